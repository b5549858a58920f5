from decimal import Decimal

import pytest

from traces.money import usd


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "\u2014"),
        (0, "$0.00"),
        (Decimal("0.00004"), "$0.00004"),
        (Decimal("0.000021"), "$0.000021"),
        (Decimal("0.0000214999"), "$0.000021"),
        (Decimal("0.0123"), "$0.0123"),
        (Decimal("0.0105"), "$0.0105"),
        (Decimal("0.12346"), "$0.1235"),
        (Decimal("0.5"), "$0.50"),
        (Decimal("0.05"), "$0.05"),
        (Decimal("0.99"), "$0.99"),
        (Decimal("1"), "$1.00"),
        (Decimal("1234.567"), "$1,234.57"),
        (Decimal("0.0000000001"), "$0.0000000001"),
        (Decimal("0.00000000001"), "$0.00"),  # below what is stored: rounds away
        (Decimal("-0.003"), "-$0.003"),
        (0.25, "$0.25"),
    ],
)
def test_usd_shows_significant_digits_below_a_dollar(value, shown):
    assert usd(value) == shown
