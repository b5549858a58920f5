"""Totals of a scope's runs over time windows, for the spike and budget evaluators.

`window_totals(project_id, scope, windows)` takes a rule's scope (agentops.alerts.evaluation.base
SCOPE_KEYS; empty is the whole project) and a list of [start, end) windows, and returns for each the
runs that started in it: how many, how many failed, their cost and their tokens. It reads, never writes,
in at most three statements (the watermark, the rollups, the runs) whatever the windows' lengths and the project's size.

Where the numbers come from, and why they are right:
- Whole hours come from the hourly rollups (traces_runhour: per hour and agent, bundle, environment),
  which count a run in the hour it started in, as this module does. Only hours the rollups are known
  to hold settled are read there: those that ended before the last full refresh started, less
  traces.rollups.OVERLAP (RollupWatermark; the beat refreshes every minute). Runs of the hours since
  then, new ones included, are read from traces_run (below), so the last minutes always count. What
  the rollups can miss is a change to a run of a settled hour since the watermark (a late span reaching
  an older run): it is in by the next refresh, the dashboards' lag too. Hours are UTC hours, as the
  rollups' are, whatever time zone a window was drawn in (a day in Kolkata starts at half past).
- Every other piece (a partial hour at a window's edge, and hours since the watermark) is read from
  traces_run itself, one index range per piece: (project, -start_time), or the scope's own index
  (agent, bundle, user, environment) when the planner prefers it. That is at most the window's edge
  hours plus the rollups' lag, so a window of a month costs about as much as a window of a day.
- The rollups know runs by agent, bundle and environment only: a scope naming an end user, a model or
  a tool is read from the runs alone. An end user's runs come through the (project, user_id,
  -start_time) index, so they cost what that user ran in the windows; for a model or a tool every run
  in the windows is read and tested, so they cost what the whole project ran in them (a day-long spike
  window on a model at a million runs a month: 8 x 33,000 runs, seconds; see bench/alerts_cost.py).

Cost is that of the runs (traces_run.cost_usd), tokens their input plus output tokens, and a run failed
when any of its steps did: the run list's and the dashboards' definitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from traces.models import RollupWatermark
from traces.rollups import OVERLAP

HOUR = timedelta(hours=1)
# Scope keys the rollups can answer (columns of traces_runhour); any other key sends a scope to the runs.
ROLLUP_KEYS = ("agent", "bundle", "environment")
# Scope key -> the condition on traces_run (r) it stands for; %(key)s is the scope's value.
_RUN_FILTERS = {
    "agent": "r.agent = %(agent)s",
    "bundle": "r.bundle = %(bundle)s",
    "environment": "r.environment = %(environment)s",
    "user": "r.user_id = %(user)s",
    # A session's runs (hard budgets per session, agentops.budgets), through (project, session_id, start_time).
    "session": "r.session_id = %(session)s",
    # = ANY, which the GIN indexes cannot serve, on purpose: a window's runs come through the start-time
    # range and are tested one by one. With @> Postgres, which cannot estimate the windows' runs, ANDed a
    # bitmap of every run that ever called a common tool (250,000 at a million runs): 670 ms against
    # about 20 ms for the eight hours of a spike rule.
    "model": "%(model)s = ANY(r.models_used)",
    "tool": "%(tool)s = ANY(r.tools_used)",
}


@dataclass(frozen=True, slots=True)
class Totals:
    runs: int = 0
    errors: int = 0
    cost_usd: Decimal = Decimal(0)
    tokens: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.runs + other.runs,
            self.errors + other.errors,
            self.cost_usd + other.cost_usd,
            self.tokens + other.tokens,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """How windows are read: pieces of [start, end) per window index, from the rollups or the runs."""

    rollup_pieces: list[tuple[int, datetime, datetime]]
    run_pieces: list[tuple[int, datetime, datetime]]


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def settled_until() -> datetime | None:
    """The end of the hours the rollups hold settled (see the module docstring); None before any refresh."""
    mark = RollupWatermark.objects.filter(pk=1).values_list("refreshed_at", flat=True).first()
    return floor_hour(mark - OVERLAP) if mark is not None else None


def plan(windows: Sequence[tuple[datetime, datetime]], *, settled: datetime | None) -> Plan:
    """Split each window into whole settled hours (rollups) and the rest (runs). `settled` None: all runs."""
    rollup_pieces, run_pieces = [], []
    for i, (local_start, local_end) in enumerate(windows):
        # The rollups' hours are UTC hours; and arithmetic on datetimes of one time zone is on wall time.
        start, end = local_start.astimezone(UTC), local_end.astimezone(UTC)
        if end <= start:
            continue
        first, last = ceil_hour(start), floor_hour(end)
        if settled is not None:
            last = min(last, max(settled, first))
        if settled is None or first >= last:
            run_pieces.append((i, start, end))
            continue
        rollup_pieces.append((i, first, last))
        if start < first:
            run_pieces.append((i, start, first))
        if last < end:
            run_pieces.append((i, last, end))
    return Plan(rollup_pieces, run_pieces)


def _scope(scope: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in scope.items() if key in _RUN_FILTERS and value}


_PIECES = "unnest(%(i)s::int[], %(s)s::timestamptz[], %(e)s::timestamptz[]) AS w(i, s, e)"


def _rollup_sql(scope: Mapping[str, str]) -> str:
    where = "".join(f" AND h.{key} = %({key})s" for key in scope)
    return f"""
        SELECT w.i, coalesce(sum(h.runs), 0), coalesce(sum(h.errors), 0), coalesce(sum(h.cost_usd), 0),
               coalesce(sum(h.input_tokens + h.output_tokens), 0)
        FROM {_PIECES}
        JOIN traces_runhour h ON h.project_id = %(project)s AND h.hour >= w.s AND h.hour < w.e{where}
        GROUP BY w.i
    """


def _runs_sql(scope: Mapping[str, str]) -> str:
    # LATERAL: one index range per piece. Postgres cannot estimate an unnest's rows, and a plain join
    # may let it scan the project's runs once for all pieces.
    where = "".join(f" AND {_RUN_FILTERS[key]}" for key in scope)
    return f"""
        SELECT w.i, t.runs, t.errors, t.cost, t.tokens
        FROM {_PIECES} CROSS JOIN LATERAL (
            SELECT count(*) AS runs, count(*) FILTER (WHERE r.error_count > 0) AS errors,
                   coalesce(sum(r.cost_usd), 0) AS cost, coalesce(sum(r.input_tokens + r.output_tokens), 0) AS tokens
            FROM traces_run r
            WHERE r.project_id = %(project)s AND r.start_time >= w.s AND r.start_time < w.e{where}
        ) t
    """


def _fetch(sql: str, pieces: list[tuple[int, datetime, datetime]], params: dict[str, Any]) -> list[tuple[Any, ...]]:
    if not pieces:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {**params, "i": [p[0] for p in pieces], "s": [p[1] for p in pieces], "e": [p[2] for p in pieces]},
        )
        return cursor.fetchall()


def window_totals(
    project_id: int, scope: Mapping[str, str], windows: Sequence[tuple[datetime, datetime]]
) -> list[Totals]:
    """The totals of the scope's runs that started in each [start, end) window, in the windows' order."""
    filters = _scope(scope)
    by_rollups = all(key in ROLLUP_KEYS for key in filters)
    pieces = plan(windows, settled=settled_until() if by_rollups else None)
    params: dict[str, Any] = {"project": project_id, **filters}
    totals = [Totals() for _ in windows]
    rows = _fetch(_rollup_sql(filters), pieces.rollup_pieces, params)
    rows += _fetch(_runs_sql(filters), pieces.run_pieces, params)
    for i, runs, errors, cost, tokens in rows:
        totals[i] += Totals(int(runs), int(errors), Decimal(cost), int(tokens))
    return totals


def has_runs_before(project_id: int, moment: datetime) -> bool:
    """Whether the project has any run that started before `moment` (one probe of its newest-runs index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM traces_run WHERE project_id = %s AND start_time < %s)", [project_id, moment]
        )
        return bool(cursor.fetchone()[0])
