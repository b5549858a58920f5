"""Reads behind the dashboards: a project's (or one agent's) runs and steps aggregated over a time window.

They read the hourly rollups (traces.rollups), never traces_run or traces_step in bulk, so a page costs
the same at a thousand runs as at a million: each function runs one or two statements over at most a
few rows per hour, and returns plain frozen dataclasses that traces.charts turns into figures.

A `Window` says which runs count: those that started in the hours from the one holding `start` up to
`end`, optionally only one agent, bundle or environment. Step-level figures (cost by model, tool calls)
count the steps of those runs, so a slice by bundle or environment slices them too.

Latency is a run's end minus its start, for runs that have an end, in milliseconds; percentiles come
from the rollups' histograms (within ~9% of the exact value, see traces.rollups.percentile).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from agentops.tenancy.models import Project
from traces.rollups import percentile

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


def _where(project: Project, window: Window) -> tuple[str, list[Any]]:
    clauses = ["h.project_id = %s", "h.hour >= date_trunc('hour', %s::timestamptz)", "h.hour < %s"]
    params: list[Any] = [project.pk, window.start, window.end]
    for column in ("agent", "bundle", "environment"):
        value = getattr(window, column)
        if value is not None:
            clauses.append(f"h.{column} = %s")
            params.append(value)
    return " AND ".join(clauses), params


def _fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _hists(rows: list[tuple[Any, ...]]) -> dict[Any, dict[int, int]]:
    """(group, bucket, runs) rows -> {group: {bucket: runs}}."""
    hists: dict[Any, dict[int, int]] = {}
    for group, bucket, runs in rows:
        hists.setdefault(group, {})[int(bucket)] = int(runs)
    return hists


def _latency_by(group_sql: str, where: str, params: list[Any]) -> dict[Any, dict[int, int]]:
    return _hists(
        _fetch(
            f"""
            SELECT {group_sql}, e.key::int, sum(e.value::bigint)
            FROM traces_runhour h, jsonb_each_text(h.latency_hist) AS e WHERE {where} GROUP BY 1, 2
            """,
            params,
        )
    )


_SUMS = """coalesce(sum(h.runs), 0), coalesce(sum(h.errors), 0), coalesce(sum(h.cost_usd), 0),
    coalesce(sum(h.input_tokens), 0), coalesce(sum(h.output_tokens), 0)"""


def run_series(project: Project, window: Window) -> list[SeriesPoint]:
    """Runs, errors, latency percentiles, cost and tokens per bucket; buckets without runs are left out."""
    where, params = _where(project, window)
    bucket = "date_trunc(%s, h.hour)"
    rows = _fetch(
        f"SELECT {bucket}, {_SUMS} FROM traces_runhour h WHERE {where} GROUP BY 1 ORDER BY 1", [window.bucket, *params]
    )
    hists = _latency_by(bucket, where, [window.bucket, *params])
    return [
        SeriesPoint(
            at,
            int(runs),
            int(errors),
            percentile(hists.get(at, {}), 0.5),
            percentile(hists.get(at, {}), 0.95),
            Decimal(cost),
            int(tokens_in),
            int(tokens_out),
        )
        for at, runs, errors, cost, tokens_in, tokens_out in rows
    ]


def run_totals(project: Project, window: Window) -> Totals:
    where, params = _where(project, window)
    ((runs, errors, cost, tokens_in, tokens_out, unpriced, runs_unpriced),) = _fetch(
        f"""SELECT {_SUMS}, coalesce(sum(h.unpriced_steps), 0), coalesce(sum(h.runs_with_unpriced), 0)
        FROM traces_runhour h WHERE {where}""",
        params,
    )
    hist = _latency_by("1", where, params).get(1, {})
    return Totals(
        int(runs),
        int(errors),
        percentile(hist, 0.5),
        percentile(hist, 0.95),
        Decimal(cost),
        int(tokens_in),
        int(tokens_out),
        int(unpriced),
        int(runs_unpriced),
    )


def run_breakdowns(project: Project, window: Window, *, limit: int = 20) -> dict[str, list[Share]]:
    """Cost and runs by agent, bundle, environment (one GROUPING SETS query) and end user, top `limit` of
    each by cost."""
    where, params = _where(project, window)
    rows = _fetch(
        f"""
        SELECT * FROM (
            SELECT g.*, row_number() OVER (PARTITION BY g.dim ORDER BY g.cost DESC, g.runs DESC, g.k) AS n
            FROM (
                SELECT CASE GROUPING(h.agent, h.bundle, h.environment) WHEN 3 THEN 'agent' WHEN 5 THEN 'bundle'
                       ELSE 'environment' END AS dim,
                       coalesce(h.agent, h.bundle, h.environment) AS k,
                       sum(h.runs) AS runs, sum(h.cost_usd) AS cost
                FROM traces_runhour h WHERE {where}
                GROUP BY GROUPING SETS ((h.agent), (h.bundle), (h.environment))
                UNION ALL
                SELECT 'user_id', h.key, sum(h.count), sum(h.cost_usd)
                FROM traces_runhourbreakdown h WHERE {where} AND h.dim = 'user' GROUP BY h.key
            ) g
        ) t WHERE t.n <= %s ORDER BY t.dim, t.n
        """,
        [*params, *params, limit],
    )
    # Within a grouping set the other columns are NULL (and ours never is): coalesce() is the grouped one.
    result: dict[str, list[Share]] = {name: [] for name in BREAKDOWNS}
    for dim, key, runs, cost, _n in rows:
        result[dim].append(Share(key, int(runs), Decimal(cost)))
    return result


def _breakdown(project: Project, window: Window, dim: str, order: str, limit: int) -> list[tuple[Any, ...]]:
    where, params = _where(project, window)
    return _fetch(
        f"""
        SELECT h.key, sum(h.count) AS calls, sum(h.errors) AS errors, sum(h.cost_usd) AS cost
        FROM traces_runhourbreakdown h WHERE {where} AND h.dim = %s
        GROUP BY h.key ORDER BY {order}, h.key LIMIT %s
        """,
        [*params, dim, limit],
    )


def cost_by_model(project: Project, window: Window, *, limit: int = 20) -> list[Share]:
    """Cost and LLM-call count (in `runs`) by model, over the steps of the window's runs."""
    rows = _breakdown(project, window, "model", "cost DESC", limit)
    return [Share(model, int(calls), Decimal(cost)) for model, calls, _errors, cost in rows]


def tool_stats(project: Project, window: Window, *, limit: int = 30) -> list[ToolStat]:
    """Calls and failed calls per tool, over the steps of the window's runs, most called first."""
    rows = _breakdown(project, window, "tool", "calls DESC", limit)
    return [ToolStat(tool, int(calls), int(errors)) for tool, calls, errors, _cost in rows]


def steps_per_run(project: Project, window: Window) -> list[tuple[int, int]]:
    """(steps in a run, how many runs had that many), ascending: the execution shape."""
    where, params = _where(project, window)
    rows = _fetch(
        f"""
        SELECT e.key::int, sum(e.value::bigint)
        FROM traces_runhour h, jsonb_each_text(h.steps_hist) AS e WHERE {where} GROUP BY 1 ORDER BY 1
        """,
        params,
    )
    return [(int(steps), int(runs)) for steps, runs in rows]


def slice_values(project: Project, window: Window) -> dict[str, list[str]]:
    """The bundles and environments seen in the window (ignoring those two slices), for the pickers."""
    unsliced = Window(window.start, window.end, window.bucket, agent=window.agent)
    where, params = _where(project, unsliced)
    rows = _fetch(
        f"""
        SELECT GROUPING(h.bundle, h.environment), h.bundle, h.environment
        FROM traces_runhour h WHERE {where} GROUP BY GROUPING SETS ((h.bundle), (h.environment))
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
    and None outside it). The window's environment slice applies to the metrics, not to first/last seen,
    which are exact (read from traces_run by its (project, agent, bundle, start) index)."""
    where, params = _where(project, Window(window.start, window.end, window.bucket, agent=agent,
                                            environment=window.environment))  # fmt: skip
    rows = _fetch(
        f"""
        WITH w AS (
            SELECT h.bundle, sum(h.runs) AS runs, sum(h.errors) AS errors, sum(h.cost_usd) AS cost,
                   sum(h.input_tokens + h.output_tokens) AS tokens, sum(h.steps) AS steps,
                   sum(h.tool_calls) AS tool_calls, sum(h.unpriced_steps) AS unpriced
            FROM traces_runhour h WHERE {where} GROUP BY h.bundle
        ), b AS (
            SELECT DISTINCT h.bundle FROM traces_runhour h WHERE h.project_id = %s AND h.agent = %s
        ), seen AS (
            SELECT b.bundle,
                (SELECT min(r.start_time) FROM traces_run r
                 WHERE r.project_id = %s AND r.agent = %s AND r.bundle = b.bundle) AS first_seen,
                (SELECT max(r.start_time) FROM traces_run r
                 WHERE r.project_id = %s AND r.agent = %s AND r.bundle = b.bundle) AS last_seen
            FROM b
        )
        SELECT seen.bundle, seen.first_seen, seen.last_seen, coalesce(w.runs, 0), coalesce(w.errors, 0),
               coalesce(w.cost, 0), coalesce(w.tokens, 0), coalesce(w.steps, 0), coalesce(w.tool_calls, 0),
               coalesce(w.unpriced, 0)
        FROM seen LEFT JOIN w USING (bundle)
        WHERE seen.last_seen IS NOT NULL
        ORDER BY seen.last_seen DESC, seen.bundle
        """,
        [*params, *([project.pk, agent] * 3)],
    )
    hists = _latency_by("h.bundle", where, params)
    stats = []
    for bundle, first, last, runs, errors, cost, tokens, steps, tools, unpriced in rows:
        hist = hists.get(bundle, {})
        stats.append(
            BundleStat(
                bundle,
                first,
                last,
                int(runs),
                int(errors),
                percentile(hist, 0.5),
                percentile(hist, 0.95),
                Decimal(cost),
                int(tokens),
                int(steps),
                int(tools),
                int(unpriced),
            )
        )
    return stats


def bundle_series(project: Project, window: Window) -> list[tuple[str, datetime, int]]:
    """(bundle, bucket, runs) of the window's runs: how traffic moves from one bundle to the next."""
    where, params = _where(project, window)
    rows = _fetch(
        f"""
        SELECT h.bundle, date_trunc(%s, h.hour), sum(h.runs)
        FROM traces_runhour h WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2
        """,
        [window.bucket, *params],
    )
    return [(bundle, at, int(runs)) for bundle, at, runs in rows]
