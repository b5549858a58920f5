"""The cost report's parameters (agentops.costs.query): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentops.costs.query import CostQueryError, cost_query

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def test_defaults_are_customers_of_the_current_utc_month():
    query = cost_query({}, NOW)
    assert query.by == ("customer",) and query.columns == ("user_id",) and query.format == "json"
    assert (query.start, query.end) == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def test_a_month_a_range_and_several_groups():
    december = cost_query({"month": "2025-12", "by": "customer,agent", "format": "csv"}, NOW)
    assert (december.start, december.end) == (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert december.by == ("customer", "agent") and december.columns == ("user_id", "agent")
    ranged = cost_query({"from": "2026-01-01", "to": "2026-01-02T06:00:00+01:00", "by": "bundle"}, NOW)
    assert ranged.start == datetime(2026, 1, 1, tzinfo=UTC)
    assert ranged.end == datetime(2026, 1, 2, 5, tzinfo=UTC)
    assert cost_query({"from": "2026-03-10"}, NOW).end == NOW  # from alone: up to now


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "tenant"}, "by"),
        ({"by": "customer,customer"}, "by"),
        ({"by": ","}, "by"),
        ({"format": "xlsx"}, "format"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-01", "to": "2026-13-01"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"month": "2026-13"}, "month"),
        ({"month": "March"}, "month"),
        ({"month": "2026-01", "from": "2026-01-01"}, "month"),
    ],
)
def test_a_bad_parameter_is_named(params, field):
    with pytest.raises(CostQueryError) as caught:
        cost_query(params, NOW)
    assert caught.value.field == field
