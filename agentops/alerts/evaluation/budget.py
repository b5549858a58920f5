"""Budget rules: a scope's spend over the current calendar window against a limit.

`evaluate(rule, *, now)` returns one Finding for the rule's scope (agentops.alerts.evaluation.base); it
reads and writes nothing else. The spend is the cost of the scope's runs that started from the start of
the current period up to `now`, read by agentops.alerts.evaluation.sums (which says what it reads: the
rollups for whole settled hours, the runs for the rest, and the runs alone for an end user).

params: limit_usd (> 0), period ("day", "week" starting Monday, or "month"), timezone (an IANA name,
default "UTC") and soft_percents (default [80], each 1..99). The period's start is local midnight in
that time zone, turned into an instant by zoneinfo: a day is 23 or 25 hours long on a daylight-saving
change, and a midnight that a change skips starts the day when the clocks jump (a midnight that occurs
twice starts it at the first). Critical at 100% of the limit or more, warning at the highest soft percent
reached, clear below the lowest. min_sample does not apply (no runs is a spend of 0, and a budget judges
it); rule.warning and rule.critical are not used (the levels are the limit and the soft percents).

The periods are drawn by agentops.budgets.windows, which the hard budgets share.

Params this kind cannot read raise BadRule: the cycle logs the rule as failed and goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agentops.alerts.evaluation.base import SCOPE_KEYS, BadRule, Finding
from agentops.alerts.evaluation.sums import window_totals
from agentops.alerts.models import AlertRule, Severity
from agentops.budgets.windows import PERIODS, period_bounds, zone_or_none

DEFAULT_SOFT_PERCENTS = (80,)
_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True, slots=True)
class Budget:
    limit_usd: float
    period: str
    zone: ZoneInfo
    soft_percents: tuple[float, ...]


def budget_params(params: Any) -> Budget:
    """The rule's params, checked; BadRule says what is wrong."""
    if not isinstance(params, dict):
        raise BadRule("params must be an object")
    limit = params.get("limit_usd")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit) or limit <= 0:
        raise BadRule(f"params.limit_usd must be a number > 0, not {limit!r}")
    period = params.get("period", "month")
    if period not in PERIODS:
        raise BadRule(f"params.period must be one of {', '.join(PERIODS)}, not {period!r}")
    name = params.get("timezone") or "UTC"
    zone = zone_or_none(name)
    if zone is None:
        raise BadRule(f"params.timezone must be an IANA time zone name such as Europe/Paris, not {name!r}")
    softs = params.get("soft_percents", list(DEFAULT_SOFT_PERCENTS))
    if not isinstance(softs, list) or not all(
        not isinstance(p, bool) and isinstance(p, int | float) and 1 <= p <= 99 for p in softs
    ):
        raise BadRule(f"params.soft_percents must be a list of numbers from 1 to 99, not {softs!r}")
    return Budget(float(limit), period, zone, tuple(sorted(set(softs))))


def _severity(percent: float, softs: tuple[float, ...]) -> tuple[Severity | None, float | None]:
    if percent >= 100:
        return Severity.CRITICAL, 100.0
    crossed = [p for p in softs if percent >= p]
    return (Severity.WARNING, max(crossed)) if crossed else (None, None)


def evaluate(rule: AlertRule, *, now: datetime) -> list[Finding]:
    budget = budget_params(rule.params)
    scope = {k: str(v) for k, v in (rule.scope or {}).items() if k in SCOPE_KEYS and v not in (None, "")}
    start, end = period_bounds(now, budget.period, budget.zone)
    (totals,) = window_totals(rule.project_id, scope, [(start, now)])
    spend = float(totals.cost_usd)
    percent = 100 * spend / budget.limit_usd
    severity, crossed = _severity(percent, budget.soft_percents)
    summary = (
        f"Spend ${spend:,.2f} is {percent:,.0f}% of the {_ADJECTIVE[budget.period]} budget of "
        f"${budget.limit_usd:,.2f} (since {start:%Y-%m-%d %H:%M} {budget.zone.key})"
    )
    details = {
        "period": budget.period,
        "timezone": budget.zone.key,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "limit_usd": budget.limit_usd,
        "spend_usd": spend,
        "percent": percent,
        "soft_percents": list(budget.soft_percents),
        "percent_crossed": crossed,
        "runs": totals.runs,
    }
    runs_filter = {**scope, "from": start.isoformat()}
    return [Finding(scope, severity, spend, budget.limit_usd, summary, details, runs_filter)]
