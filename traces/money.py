"""Amounts of money as people read them: cents for dollars, significant digits for fractions of a cent.

A run of $0.00004 printed with four decimals reads "$0.0000", which says "free" while its step says
$0.000021: below a dollar, show four decimals or two significant digits, whichever shows more, and
drop the zeros that only pad (down to cents).
"""

from __future__ import annotations

import math
from decimal import Decimal

MAX_DECIMALS = 10  # the precision runs and steps store costs with


def usd(value: Decimal | float | int | None) -> str:
    if value is None:
        return "\u2014"  # em dash: no price
    amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    if amount == 0:
        return "$0.00"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    decimals = min(MAX_DECIMALS, max(4, 1 - math.floor(math.log10(amount))))
    text = f"{amount:.{decimals}f}"
    text = text.rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{amount:.2f}"
    return f"{sign}${text}"
