"""Threshold rules: one metric of the runs in the last `window_minutes`, against the rule's levels.

evaluate(rule, *, now) -> [Finding] with one finding for the rule's scope, or none when it cannot
judge: fewer than `min_sample` runs in the window (the `runs` metric is always judged: a count of 0 is
an answer, and "too few runs" is what a rule on it watches for), or no value (latency with no finished
run, a tool error rate with no tool call).

The window is the runs that started in [now - window_minutes, now). The scope filters the runs as the
run list does (traces.filters): agent, bundle, environment and user exactly, model and tool as runs
that used them (models_used / tools_used). So the finding's runs_filter, the run list's parameters,
shows exactly the runs measured.

Reads are one aggregate query over traces_run by the indexes of its filters: (project, -start_time)
(run_project_recent), or the agent's, environment's, bundle's or user's index with the start time
(run_project_agent, _environment, _bundle, _user); the planner picks. Bounded: totals (the count of
runs, the cost) read the whole window, exactly; every other metric (rates, averages, percentiles) the
window's newest SAMPLE_RUNS runs in scope (details["sampled"] says when the window held more, and
"runs" is then the number read). A run in flight counts in
every metric but the unfinished rate, which counts runs that started more than UNFINISHED_GRACE before
now without their root span ending (as agentops.alerts.selectors does).

tool_error_rate reads the TOOL steps (traces_step, partitioned by month of start time) of the newest
MAX_TOOL_RUNS runs of the window in scope, by primary-key probes from each run's start: bounded however
long the window (details["sampled"] says when the cap was reached). With a tool in the scope, only that tool's calls
count.

Levels: direction "above" (default) raises warning at value >= warning, critical at >= critical;
"below" at value <= the level. Either level may be null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from agentops.alerts.evaluation.base import SCOPE_KEYS, BadRule, Finding
from agentops.alerts.models import AlertRule, Severity
from agentops.alerts.selectors import UNFINISHED_GRACE

# Rates, averages and percentiles read at most this many runs of the window, the newest: a week of a
# busy project is 200,000 runs, a heap page each (0.5 s a rule, measured at 1,000,000 runs), where its
# newest 2,000 give a rate within about a point (the standard error of 3% over 2,000 runs is 0.4 points).
SAMPLE_RUNS = 2000
MAX_TOOL_RUNS = 1000
# Totals are exact: the whole window is read.
TOTALS = ("runs", "cost_usd")
_SAMPLED_COLUMNS = (
    "error_count, root_ended, start_time, end_time, cost_usd, input_tokens, output_tokens, step_count, tool_calls,"
    " llm_calls"
)
_MS = "extract(epoch FROM end_time - start_time) * 1000"
_FINISHED = "FILTER (WHERE root_ended AND end_time IS NOT NULL)"

# metric -> SQL aggregate over traces_run (the window's runs in scope).
RUN_METRICS: dict[str, str] = {
    "runs": "count(*)",
    "error_rate": "avg((error_count > 0)::int)",
    "unfinished_rate": "avg((error_count = 0 AND NOT root_ended AND start_time < %(settled)s)::int)",
    "latency_p50_ms": f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {_MS}) {_FINISHED}",
    "latency_p95_ms": f"percentile_cont(0.95) WITHIN GROUP (ORDER BY {_MS}) {_FINISHED}",
    "latency_p99_ms": f"percentile_cont(0.99) WITHIN GROUP (ORDER BY {_MS}) {_FINISHED}",
    "cost_usd": "coalesce(sum(cost_usd), 0)",
    "cost_per_run_usd": "avg(cost_usd)",
    "tokens_per_run": "avg(input_tokens + output_tokens)",
    "steps_per_run": "avg(step_count)",
    "tool_calls_per_run": "avg(tool_calls)",
    "llm_calls_per_run": "avg(llm_calls)",
}
# Runs past their agent's step cap (agentops.budgets.runaway records them): counted from that small
# table into the window's runs, so a project without runaways reads nothing of its runs.
# (The run's columns are named bare in `where`: inside the EXISTS they are traces_run's.)
_RUNAWAYS = """
SELECT count(*) FROM budgets_runawayrun w
WHERE w.project_id = %(project)s
  AND EXISTS (SELECT 1 FROM traces_run WHERE {where} AND traces_run.trace_id = w.trace_id)
"""
COUNTS = ("runs", "runaway_runs")  # how many runs: judged whatever the window's size (no min_sample)
METRICS = (*RUN_METRICS, "tool_error_rate", "runaway_runs")

# The scope's run columns; model and tool are matched against the arrays of names the run used.
_EXACT = {"agent": "agent", "bundle": "bundle", "environment": "environment", "user": "user_id"}
_ARRAYS = {"model": "models_used", "tool": "tools_used"}

_TOOL_STEPS = """
WITH runs AS (
    SELECT trace_id, start_time FROM traces_run
    WHERE {where}
    ORDER BY start_time DESC
    LIMIT %(limit)s
)
SELECT (SELECT count(*) FROM runs), count(s.*), count(s.*) FILTER (WHERE s.status = 'error')
FROM runs LEFT JOIN LATERAL (
    SELECT st.status FROM traces_step st
    WHERE st.project_id = %(project)s AND st.trace_id = runs.trace_id AND st.start_time >= runs.start_time
      AND st.kind = 'TOOL' {tool}
) s ON true
"""


@dataclass(frozen=True, slots=True)
class Measure:
    runs: int
    value: float | None
    details: Mapping[str, Any]


def rule_scope(rule: AlertRule) -> dict[str, str]:
    scope = rule.scope if isinstance(rule.scope, dict) else {}
    return {key: str(scope[key]) for key in SCOPE_KEYS if scope.get(key)}


def _where(scope: Mapping[str, str], params: dict[str, Any]) -> str:
    clauses = ["project_id = %(project)s", "start_time >= %(since)s", "start_time < %(now)s"]
    for key, column in _EXACT.items():
        if key in scope:
            clauses.append(f"{column} = %(scope_{key})s")
            params[f"scope_{key}"] = scope[key]
    for key, column in _ARRAYS.items():
        if key in scope:
            clauses.append(f"{column} @> ARRAY[%(scope_{key})s]::varchar[]")
            params[f"scope_{key}"] = scope[key]
    return " AND ".join(clauses)


def measure(project_id: int, metric: str, scope: Mapping[str, str], *, since: datetime, now: datetime) -> Measure:
    """The number of runs read in the window and scope, and the metric's value (None: nothing to
    measure). Totals (TOTALS) read the whole window; rates, averages and percentiles its newest
    SAMPLE_RUNS runs (details say so with "sampled")."""
    params: dict[str, Any] = {"project": project_id, "since": since, "now": now, "settled": now - UNFINISHED_GRACE}
    where = _where(scope, params)
    with connection.cursor() as cursor:
        if metric == "tool_error_rate":
            tool = ""
            if "tool" in scope:
                tool = "AND st.tool_name = %(tool)s"
                params["tool"] = scope["tool"]
            params["limit"] = MAX_TOOL_RUNS
            cursor.execute(_TOOL_STEPS.format(where=where, tool=tool), params)
            runs, calls, failed = cursor.fetchone()
            details = {"tool_calls": calls, "tool_errors": failed, "sampled": runs >= MAX_TOOL_RUNS}
            return Measure(runs, failed / calls if calls else None, details)
        if metric == "runaway_runs":
            cursor.execute(_RUNAWAYS.format(where=where), params)
            (runaways,) = cursor.fetchone()
            return Measure(runaways, float(runaways), {})
        if metric in TOTALS:
            cursor.execute(f"SELECT count(*), {RUN_METRICS[metric]} FROM traces_run WHERE {where}", params)
            runs, value = cursor.fetchone()
            return Measure(runs, None if value is None else float(value), {})
        params["limit"] = SAMPLE_RUNS
        cursor.execute(
            f"SELECT count(*), {RUN_METRICS[metric]} FROM ("
            f"SELECT {_SAMPLED_COLUMNS} FROM traces_run WHERE {where} ORDER BY start_time DESC LIMIT %(limit)s"
            ") AS window_runs",
            params,
        )
        runs, value = cursor.fetchone()
    return Measure(runs, None if value is None else float(value), {"sampled": runs >= SAMPLE_RUNS})


def level(value: float, rule: AlertRule) -> Severity | None:
    """The severity `value` reaches by the rule's levels and direction."""
    below = rule.direction == AlertRule.Direction.BELOW

    def crosses(limit: float | None) -> bool:
        return limit is not None and (value <= limit if below else value >= limit)

    if crosses(rule.critical):
        return Severity.CRITICAL
    if crosses(rule.warning):
        return Severity.WARNING
    return None


def show(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.endswith("_rate"):
        return f"{value:.1%}"
    if metric.endswith("_ms"):
        return f"{value:,.0f} ms"
    if metric.startswith("cost"):
        return f"${value:,.4f}" if abs(value) < 100 else f"${value:,.2f}"
    if metric in COUNTS:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def window_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d" if minutes != 1440 else "24 h"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def scope_text(scope: Mapping[str, str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in scope.items()) or "all runs"


def runs_filter(
    metric: str, scope: Mapping[str, str], rule: AlertRule, since: datetime, now: datetime
) -> dict[str, str]:
    """The run list's parameters (traces.filters.parse_filters) for the runs behind the finding."""
    params = {key: scope[key] for key in SCOPE_KEYS if key in scope}
    params["from"], params["to"] = since.isoformat(), now.isoformat()
    if metric in ("error_rate", "tool_error_rate"):
        params["status"] = "error"
    elif metric == "unfinished_rate":
        params["status"] = "unfinished"
    elif metric == "runaway_runs":
        params["runaway"] = "1"
    elif metric.startswith("latency_") and rule.direction != AlertRule.Direction.BELOW:
        lowest = min((x for x in (rule.warning, rule.critical) if x is not None), default=None)
        if lowest is not None and lowest >= 0:
            params["min_duration_ms"] = str(int(lowest))
    return params


def evaluate(rule: AlertRule, *, now: datetime) -> list[Finding]:
    metric = rule.metric
    if metric not in METRICS:
        raise BadRule(f"threshold rule {rule.pk} has an unknown metric {metric!r}")
    scope = rule_scope(rule)
    since = now - timedelta(minutes=rule.window_minutes)
    measured = measure(rule.project_id, metric, scope, since=since, now=now)
    # A sample reads no fewer runs than min_sample unless the window has fewer (or min_sample is past
    # the sample's size: such a rule judges once its sample is full).
    if measured.value is None or (
        metric not in COUNTS and measured.runs < rule.min_sample and not measured.details.get("sampled")
    ):
        return []
    severity = level(measured.value, rule)
    limit = {Severity.CRITICAL: rule.critical, Severity.WARNING: rule.warning}.get(severity) if severity else None
    side = "below" if rule.direction == AlertRule.Direction.BELOW else "above"
    verdict = f"{side} the {severity} level {show(metric, limit)}" if severity else "within its levels"
    runs = f"newest {measured.runs:,} runs" if measured.details.get("sampled") else f"{measured.runs:,} runs"
    summary = (
        f"{metric} {show(metric, measured.value)} over the last {window_text(rule.window_minutes)} "
        f"({runs}; {scope_text(scope)}): {verdict}"
    )
    details = {
        "metric": metric,
        "runs": measured.runs,
        "window_minutes": rule.window_minutes,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "warning": rule.warning,
        "critical": rule.critical,
        "direction": rule.direction,
        **measured.details,
    }
    return [
        Finding(
            scope=scope,
            severity=severity,
            value=measured.value,
            baseline_value=None,
            summary=summary,
            details=details,
            runs_filter=runs_filter(metric, scope, rule, since, now),
        )
    ]
