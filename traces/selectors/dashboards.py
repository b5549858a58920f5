"""Reads behind the dashboards: a project's (or one agent's) runs and steps aggregated over a time window.

Every function runs one SQL statement whatever the data size, and returns plain frozen dataclasses that
traces.charts turns into figures. A `Window` says which runs count: those that started in [start, end),
optionally only one agent, bundle or environment. Step-level figures (cost by model, tool calls) count
the steps of those runs, so a slice by bundle or environment slices them too.

Latency is a run's end minus its start, for runs that have an end; percentiles are continuous
(percentile_cont), in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from agentops.tenancy.models import Project

# Slices of the run-level breakdown, each a column of traces_run.
BREAKDOWNS = ("agent", "bundle", "user_id", "environment")


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    bucket: str  # "hour" | "day": the width of a point of the time series
    agent: str | None = None
    bundle: str | None = None
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    at: datetime
    runs: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    cost_usd: Decimal
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Totals:
    runs: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    cost_usd: Decimal
    input_tokens: int
    output_tokens: int
    unpriced_steps: int
    runs_with_unpriced: int


@dataclass(frozen=True, slots=True)
class Share:
    """One value of a breakdown ("agent", "bundle", ...) and what its runs or steps cost."""

    key: str
    runs: int
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class ToolStat:
    tool: str
    calls: int
    errors: int


@dataclass(frozen=True, slots=True)
class BundleStat:
    """One bundle of an agent: when it was first and last seen (ever), and its metrics in the window."""

    bundle: str
    first_seen: datetime
    last_seen: datetime
    runs: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    cost_usd: Decimal
    tokens: int
    steps: int
    tool_calls: int
    unpriced_steps: int


def _where(project: Project, window: Window, alias: str = "r") -> tuple[str, list[Any]]:
    clauses = [f"{alias}.project_id = %s", f"{alias}.start_time >= %s", f"{alias}.start_time < %s"]
    params: list[Any] = [project.pk, window.start, window.end]
    for column in ("agent", "bundle", "environment"):
        value = getattr(window, column)
        if value is not None:
            clauses.append(f"{alias}.{column} = %s")
            params.append(value)
    return " AND ".join(clauses), params


def _fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_LATENCY_MS = "extract(epoch FROM (r.end_time - r.start_time)) * 1000"
_P50 = f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {_LATENCY_MS}) FILTER (WHERE r.end_time IS NOT NULL)"
_P95 = f"percentile_cont(0.95) WITHIN GROUP (ORDER BY {_LATENCY_MS}) FILTER (WHERE r.end_time IS NOT NULL)"
_RUN_METRICS = f"""
    count(*), count(*) FILTER (WHERE r.error_count > 0), {_P50}, {_P95},
    coalesce(sum(r.cost_usd), 0), coalesce(sum(r.input_tokens), 0), coalesce(sum(r.output_tokens), 0)
"""


def run_series(project: Project, window: Window) -> list[SeriesPoint]:
    """Runs, errors, latency percentiles, cost and tokens per bucket; buckets without runs are left out."""
    where, params = _where(project, window)
    rows = _fetch(
        f"""
        SELECT date_trunc(%s, r.start_time) AS at, {_RUN_METRICS}
        FROM traces_run r WHERE {where} GROUP BY 1 ORDER BY 1
        """,
        [window.bucket, *params],
    )
    return [SeriesPoint(r[0], r[1], r[2], r[3], r[4], Decimal(r[5]), int(r[6]), int(r[7])) for r in rows]


def run_totals(project: Project, window: Window) -> Totals:
    where, params = _where(project, window)
    (row,) = _fetch(
        f"""
        SELECT {_RUN_METRICS}, coalesce(sum(r.unpriced_steps), 0), count(*) FILTER (WHERE r.unpriced_steps > 0)
        FROM traces_run r WHERE {where}
        """,
        params,
    )
    return Totals(row[0], row[1], row[2], row[3], Decimal(row[4]), int(row[5]), int(row[6]), int(row[7]), row[8])


def run_breakdowns(project: Project, window: Window, *, limit: int = 20) -> dict[str, list[Share]]:
    """Cost and runs by agent, bundle, end user and environment (one GROUPING SETS query), top `limit`
    of each by cost."""
    where, params = _where(project, window)
    sets = ", ".join(f"(r.{c})" for c in BREAKDOWNS)
    columns = ", ".join(f"r.{c}" for c in BREAKDOWNS)
    rows = _fetch(
        f"""
        SELECT * FROM (
            SELECT g.*, row_number() OVER (PARTITION BY g.grp ORDER BY g.cost DESC, g.runs DESC, g.k) AS n
            FROM (
                SELECT GROUPING({columns}) AS grp, coalesce({columns}) AS k,
                       count(*) AS runs, coalesce(sum(r.cost_usd), 0) AS cost
                FROM traces_run r WHERE {where} GROUP BY GROUPING SETS ({sets})
            ) g
        ) t WHERE t.n <= %s ORDER BY t.grp, t.n
        """,
        [*params, limit],
    )
    # Within a grouping set the other columns are NULL (and ours never is), so coalesce() above is the
    # grouped value. GROUPING(a, b, c, d) has a 1 bit for every column *not* grouped: the one that is, is the 0 bit.
    width = len(BREAKDOWNS)
    by_grp = {((1 << width) - 1) ^ (1 << (width - 1 - i)): name for i, name in enumerate(BREAKDOWNS)}
    result: dict[str, list[Share]] = {name: [] for name in BREAKDOWNS}
    for grp, key, runs, cost, _n in rows:
        result[by_grp[grp]].append(Share(key, runs, Decimal(cost)))
    return result


def cost_by_model(project: Project, window: Window, *, limit: int = 20) -> list[Share]:
    """Cost and LLM-call count (in `runs`) by model, over the steps of the window's runs."""
    where, params = _where(project, window)
    rows = _fetch(
        f"""
        SELECT s.model, count(*), coalesce(sum(s.cost_usd) FILTER (WHERE NOT s.usage_is_aggregate), 0) AS cost
        FROM traces_run r JOIN traces_step s ON s.project_id = r.project_id AND s.trace_id = r.trace_id
        WHERE {where} AND s.start_time >= %s AND s.model IS NOT NULL
        GROUP BY s.model ORDER BY cost DESC, s.model LIMIT %s
        """,
        [*params, window.start, limit],
    )
    return [Share(model, calls, Decimal(cost)) for model, calls, cost in rows]


def tool_stats(project: Project, window: Window, *, limit: int = 30) -> list[ToolStat]:
    """Calls and failed calls per tool, over the steps of the window's runs, most called first."""
    where, params = _where(project, window)
    rows = _fetch(
        f"""
        SELECT s.tool_name, count(*) AS calls, count(*) FILTER (WHERE s.status = 'error')
        FROM traces_run r JOIN traces_step s ON s.project_id = r.project_id AND s.trace_id = r.trace_id
        WHERE {where} AND s.start_time >= %s AND s.kind = 'TOOL' AND s.tool_name IS NOT NULL
        GROUP BY s.tool_name ORDER BY calls DESC, s.tool_name LIMIT %s
        """,
        [*params, window.start, limit],
    )
    return [ToolStat(tool, calls, errors) for tool, calls, errors in rows]


def steps_per_run(project: Project, window: Window) -> list[tuple[int, int]]:
    """(steps in a run, how many runs had that many), ascending: the execution shape."""
    where, params = _where(project, window)
    rows = _fetch(
        f"SELECT r.step_count, count(*) FROM traces_run r WHERE {where} GROUP BY 1 ORDER BY 1",
        params,
    )
    return [(int(steps), int(runs)) for steps, runs in rows]


def slice_values(project: Project, window: Window) -> dict[str, list[str]]:
    """The bundles and environments seen in the window (ignoring those two slices), for the pickers."""
    unsliced = Window(window.start, window.end, window.bucket, agent=window.agent)
    where, params = _where(project, unsliced)
    rows = _fetch(
        f"""
        SELECT DISTINCT GROUPING(r.bundle, r.environment), r.bundle, r.environment
        FROM traces_run r WHERE {where} GROUP BY GROUPING SETS ((r.bundle), (r.environment))
        ORDER BY 1, 2, 3
        """,
        params,
    )
    values: dict[str, list[str]] = {"bundle": [], "environment": []}
    for grp, bundle, environment in rows:
        if grp == 1:  # environment not grouped
            values["bundle"].append(bundle)
        else:
            values["environment"].append(environment)
    return values


def agent_bundles(project: Project, agent: str, window: Window) -> list[BundleStat]:
    """Every bundle the agent ever ran, most recently seen first, with its metrics in the window (zeros
    and None outside it). The window's environment slice applies to the metrics, not to first/last seen."""
    env = " AND r.environment = %s" if window.environment is not None else ""
    rows = _fetch(
        f"""
        WITH r AS (
            SELECT r.*, (r.start_time >= %s AND r.start_time < %s{env}) AS in_w
            FROM traces_run r WHERE r.project_id = %s AND r.agent = %s
        )
        SELECT r.bundle, min(r.start_time), max(r.start_time),
            count(*) FILTER (WHERE r.in_w), count(*) FILTER (WHERE r.in_w AND r.error_count > 0),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY {_LATENCY_MS}) FILTER (WHERE r.in_w AND r.end_time IS NOT NULL),
            percentile_cont(0.95) WITHIN GROUP (ORDER BY {_LATENCY_MS}) FILTER (WHERE r.in_w AND r.end_time IS NOT NULL),
            coalesce(sum(r.cost_usd) FILTER (WHERE r.in_w), 0),
            coalesce(sum(r.input_tokens + r.output_tokens) FILTER (WHERE r.in_w), 0),
            coalesce(sum(r.step_count) FILTER (WHERE r.in_w), 0),
            coalesce(sum(r.tool_calls) FILTER (WHERE r.in_w), 0),
            coalesce(sum(r.unpriced_steps) FILTER (WHERE r.in_w), 0)
        FROM r GROUP BY r.bundle ORDER BY max(r.start_time) DESC, r.bundle
        """,
        [window.start, window.end, *([window.environment] if env else []), project.pk, agent],
    )
    stats = []
    for bundle, first, last, runs, errors, p50, p95, cost, tokens, steps, tools, unpriced in rows:
        sums = (Decimal(cost), int(tokens), int(steps), int(tools), int(unpriced))
        stats.append(BundleStat(bundle, first, last, runs, errors, p50, p95, *sums))
    return stats


def bundle_series(project: Project, window: Window) -> list[tuple[str, datetime, int]]:
    """(bundle, bucket, runs) of the window's runs: how traffic moves from one bundle to the next."""
    where, params = _where(project, window)
    rows = _fetch(
        f"""
        SELECT r.bundle, date_trunc(%s, r.start_time), count(*)
        FROM traces_run r WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2
        """,
        [window.bucket, *params],
    )
    return [(bundle, at, int(runs)) for bundle, at, runs in rows]
