"""Spike rules: a metric in the last window against the same window on each of the previous days.

`evaluate(rule, *, now)` returns at most one Finding, for the rule's scope (agentops.alerts.evaluation.base
says what a Finding is; this reads and writes nothing else). The metric (rule.metric) is one of
cost_usd, runs, errors (runs that failed) or tokens (input plus output), summed over the scope's runs
that started in [now - window_minutes, now). Its baseline is the median of the same sum over the same
window `d` days earlier (d = 1..params.days, default 7; a day is 24 hours, so "the same time of day"
is the same UTC time). The numbers come from agentops.alerts.evaluation.sums, which says what it reads
(rollups for whole settled hours, runs for the rest) and why the sums are right.

The factor is value / baseline; rule.warning and rule.critical are factors (2.0: twice the baseline).
Direction "above" (the default) alerts when the factor reaches a level, "below" when it falls to one
(0.5: half the baseline).

No finding (the rule cannot judge, and a live alert stays as it is) when:
- the project has no run older than the oldest baseline window: a baseline of days the project did not
  exist yet would read as zero and call anything a spike;
- the window judged has fewer than rule.min_sample runs (the last window for "above", the baseline's
  median for "below").
A metric or params this kind cannot read raise BadRule: the cycle logs the rule as failed.
A value below params.min_value (default 0.01 for cost, 10 for counts) is too small to be a spike (for
"below": a baseline below it is too small to drop): clear. A baseline of at most params.min_baseline
(default 0) leaves the factor undefined: a value that reaches min_value is then a spike of the highest
level the rule sets.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta
from typing import Any

from agentops.alerts.evaluation.base import SCOPE_KEYS, BadRule, Finding
from agentops.alerts.evaluation.sums import Totals, has_runs_before, window_totals
from agentops.alerts.models import AlertRule, Severity

METRICS = ("cost_usd", "runs", "errors", "tokens")
DEFAULT_DAYS = 7
MAX_DAYS = 60
DEFAULT_MIN_VALUE = {"cost_usd": 0.01, "runs": 10.0, "errors": 10.0, "tokens": 10.0}
_LABEL = {"cost_usd": "Spend", "runs": "Runs", "errors": "Failed runs", "tokens": "Tokens"}


def _metric(totals: Totals, metric: str) -> float:
    if metric == "cost_usd":
        return float(totals.cost_usd)
    return float({"runs": totals.runs, "errors": totals.errors, "tokens": totals.tokens}[metric])


def _number(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise BadRule(f"params.{name} must be a number >= 0, not {value!r}")
    return float(value)


def _days(params: dict[str, Any]) -> int:
    days = params.get("days", DEFAULT_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise BadRule(f"params.days must be a whole number from 1 to {MAX_DAYS}, not {days!r}")
    return days


def _shown(metric: str, value: float) -> str:
    return f"${value:,.2f}" if metric == "cost_usd" else f"{value:,.0f}"


def _severity(rule: AlertRule, factor: float) -> Severity | None:
    def reached(level: float | None) -> bool:
        if level is None:
            return False
        return factor <= level if rule.direction == AlertRule.Direction.BELOW else factor >= level

    if reached(rule.critical):
        return Severity.CRITICAL
    if reached(rule.warning):
        return Severity.WARNING
    return None


def _highest(rule: AlertRule) -> Severity | None:
    if rule.critical is not None:
        return Severity.CRITICAL
    return Severity.WARNING if rule.warning is not None else None


def evaluate(rule: AlertRule, *, now: datetime) -> list[Finding]:
    if rule.metric not in METRICS:
        raise BadRule(f"metric must be one of {', '.join(METRICS)}, not {rule.metric!r}")
    params = rule.params if isinstance(rule.params, dict) else {}
    days = _days(params)
    min_value = _number(params, "min_value", DEFAULT_MIN_VALUE[rule.metric])
    min_baseline = _number(params, "min_baseline", 0)
    if not rule.window_minutes:
        raise BadRule("window_minutes must be positive")
    scope = {k: str(v) for k, v in (rule.scope or {}).items() if k in SCOPE_KEYS and v not in (None, "")}
    width = timedelta(minutes=rule.window_minutes)
    windows = [(now - width - timedelta(days=d), now - timedelta(days=d)) for d in range(days + 1)]
    if not has_runs_before(rule.project_id, windows[-1][0]):
        return []  # the project is younger than its baseline
    totals = window_totals(rule.project_id, scope, windows)
    current, past = totals[0], totals[1:]
    value = _metric(current, rule.metric)
    baseline_values = [_metric(t, rule.metric) for t in past]
    baseline = statistics.median(baseline_values)
    below = rule.direction == AlertRule.Direction.BELOW
    sample = statistics.median(t.runs for t in past) if below else current.runs
    if sample < rule.min_sample:
        return []

    factor: float | None = value / baseline if baseline > min_baseline else None
    if below:
        severity = None if baseline < min_value or factor is None else _severity(rule, factor)
    elif value < min_value:
        severity = None
    else:
        severity = _highest(rule) if factor is None else _severity(rule, factor)

    label, minutes = _LABEL[rule.metric], rule.window_minutes
    shown, usual = _shown(rule.metric, value), _shown(rule.metric, baseline)
    same = f"the same {minutes} min on the previous {days} days"
    if factor is None:
        summary = f"{label} in the last {minutes} min: {shown}, against a median of {usual} for {same}"
    else:
        summary = f"{label} in the last {minutes} min: {shown}, {factor:,.2f}x the median of {same} ({usual})"
    details = {
        "metric": rule.metric,
        "direction": rule.direction,
        "window_minutes": minutes,
        "window_start": windows[0][0].isoformat(),
        "window_end": windows[0][1].isoformat(),
        "runs": current.runs,
        "factor": factor,
        "warning": rule.warning,
        "critical": rule.critical,
        "min_value": min_value,
        "min_baseline": min_baseline,
        "baseline_days": days,
        "baseline_values": baseline_values,  # the day before first
        "baseline_runs": [t.runs for t in past],
        "baseline_windows": [[start.isoformat(), end.isoformat()] for start, end in windows[1:]],
    }
    # The run list's parameters are the scope's keys, and from/to for the window.
    runs_filter = {**scope, "from": windows[0][0].isoformat(), "to": windows[0][1].isoformat()}
    if rule.metric == "errors":
        runs_filter["status"] = "error"
    return [Finding(scope, severity, value, baseline, summary, details, runs_filter)]
