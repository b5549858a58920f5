"""A budget's spend over its past windows, for the budgets page's history chart.

- `history_windows(budget, now, count)` -> [start, end) of the budget's last `count` calendar windows,
  the oldest first, the current one (up to `now`) last; for a rolling window, the last `count` days in
  the budget's time zone (a rolling window has no calendar to repeat). Pure: no database.
- `budget_history(budget, now)` -> list of HistoryPoint: the traced cost of the budget's scope in each,
  read by agentops.alerts.evaluation.sums.window_totals (the numbers the budget itself counts, in at most
  three statements for all the windows). Reservations are not history: the current window's committed
  and held amounts are on the page beside the chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from agentops.alerts.evaluation.sums import window_totals
from agentops.budgets.models import Budget, ScopeKind
from agentops.budgets.windows import PERIODS, period_bounds, zone_or_none

CALENDAR_WINDOWS = 8
ROLLING_DAYS = 14
# Budget scope kind -> the scope key of sums.window_totals (as agentops.budgets.selectors reads it).
_SUMS_KEY = {
    ScopeKind.AGENT: "agent",
    ScopeKind.BUNDLE: "bundle",
    ScopeKind.CUSTOMER: "user",
    ScopeKind.SESSION: "session",
}


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    start: datetime
    end: datetime
    cost_usd: Decimal


def history_windows(budget: Budget, now: datetime, count: int | None = None) -> list[tuple[datetime, datetime]]:
    zone = zone_or_none(budget.timezone)
    assert zone is not None, f"budget {budget.pk} holds an unknown time zone"  # services check every write
    period = budget.window if budget.window in PERIODS else "day"
    count = count or (CALENDAR_WINDOWS if budget.window in PERIODS else ROLLING_DAYS)
    windows: list[tuple[datetime, datetime]] = []
    start, end = period_bounds(now, period, zone)
    windows.append((start, now))
    while len(windows) < count:
        # The window before starts in the period holding the instant just before this one's start.
        start, end = period_bounds(start - timedelta(microseconds=1), period, zone)
        windows.append((start, end))
    return windows[::-1]


def budget_history(budget: Budget, now: datetime) -> list[HistoryPoint]:
    windows = history_windows(budget, now)
    kind = ScopeKind(budget.scope_kind)
    scope = {} if kind == ScopeKind.PROJECT else {_SUMS_KEY[kind]: budget.scope_value}
    totals = window_totals(budget.project_id, scope, windows)
    return [HistoryPoint(s, e, t.cost_usd) for (s, e), t in zip(windows, totals, strict=True)]
