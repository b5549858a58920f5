"""The history chart's windows (pure) and its figure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from agentops.budgets.charts import history_figure
from agentops.budgets.history import HistoryPoint, history_windows
from agentops.budgets.models import Budget

LA = ZoneInfo("America/Los_Angeles")


def _budget(window, tz="America/Los_Angeles", **scope):
    kind, value = next(iter(scope.items())) if scope else ("project", "")
    return Budget(pk=1, scope_kind=kind, scope_value=value, limit_usd=Decimal(50), window=window, timezone=tz)


def test_the_last_months_in_pacific_time_across_a_dst_change():
    now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    windows = history_windows(_budget("month"), now, 3)
    assert [(s.astimezone(LA).date().isoformat(), e.astimezone(LA).date().isoformat()) for s, e in windows[:2]] == [
        ("2026-01-01", "2026-02-01"),
        ("2026-02-01", "2026-03-01"),
    ]
    assert windows[-1] == (datetime(2026, 3, 1, 8, tzinfo=UTC), now)  # PST midnight; the current window ends now
    assert windows[0][0] == datetime(2026, 1, 1, 8, tzinfo=UTC)


def test_weeks_start_on_monday_and_a_rolling_window_is_drawn_per_day():
    now = datetime(2026, 3, 11, 12, tzinfo=UTC)  # a Wednesday
    weeks = history_windows(_budget("week", "UTC"), now)
    assert len(weeks) == 8 and all(s.weekday() == 0 for s, _ in weeks)
    days = history_windows(_budget("rolling:48", "UTC"), now)
    assert len(days) == 14 and days[-1][0] == datetime(2026, 3, 11, tzinfo=UTC)


def test_the_figure_escapes_the_scope_and_draws_the_limit_for_calendar_windows():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    points = [HistoryPoint(at, at, Decimal("1.25"))]
    figure = history_figure(_budget("month", customer="<a href=x>acme</a>"), points)
    assert figure["layout"]["title"]["text"] == "Spend per month of customer &lt;a href=x&gt;acme&lt;/a&gt;"
    assert figure["data"][0]["y"] == [1.25] and figure["data"][1]["y"] == [50.0]
    assert len(history_figure(_budget("rolling:24"), points)["data"]) == 1
