"""Hourly rollups behind the dashboards: traces_runhour and traces_runhourbreakdown.

Why a periodic recompute and not an increment in the ingest transaction: a run's agent, bundle,
environment, end and status settle only as its spans arrive (in any order, sometimes days apart), so an
increment per batch would have to retract what the run counted for before. Recomputing an hour whole
from traces_run (and the steps of its runs) is right whatever the order, costs ingest nothing, and
also picks up rows written straight to the database (bench/seed_scale.py, imports).

`refresh()` finds the (project, hour) pairs holding runs changed since the last refresh (by
traces_run.updated_at, a BRIN index), deletes their rollup rows and inserts them again, a chunk of hours
per transaction. Celery beat runs it every minute (agentops/celery.py). So that a run shows on the
dashboard as soon as it is stored, a dashboard request first catches its own project up
(`refresh_project`): the hours of runs changed since that project's rollups were last computed, at most
one chunk (the beat refresh does the rest), within INLINE_BUDGET_MS per statement: at a million runs a
catch-up of recent hours measured 10-29 s, so a page request that cannot finish it in time gives up and
shows the rollups as the last beat refresh left them. Recomputes of one project take an advisory lock, so
concurrent ones queue instead of colliding. A run counts in the hour it started in; so do its steps.

End users are many, so each hour keeps its TOP_USERS end users by cost per (agent, bundle, environment).
Latency is kept as a sparse histogram with 8 buckets per doubling (each ~9% wide): percentiles read
from it are within a bucket of the exact ones (`percentile`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

BUCKETS_PER_DOUBLING = 8
# Runs updated shortly before the last refresh started may have committed after it read: look back.
OVERLAP = timedelta(minutes=5)
HOURS_PER_CHUNK = 24
# End users are many (a run each, at worst): each hour keeps only its top spenders per (agent, bundle,
# environment), so "cost by end user" ranks the big ones right and may undercount a small one.
TOP_USERS = 10
# A run's start moves earlier when an earlier span arrives late, but never past its end: recomputing every
# hour from its start to its end covers the hour it counted in before. Capped, against absurd end times.
MAX_RUN_HOURS = 24 * 7


def latency_bucket(ms: float) -> int:
    """The histogram bucket of a latency; the same formula as _LATENCY_BUCKET below."""
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(max(ms, 0.01)))


def bucket_bounds(bucket: int) -> tuple[float, float]:
    return 2 ** (bucket / BUCKETS_PER_DOUBLING), 2 ** ((bucket + 1) / BUCKETS_PER_DOUBLING)


def _value_at(ordered: list[tuple[int, int]], rank: int) -> float:
    """An estimate of the rank-th smallest latency (0-based): spread evenly within its bucket."""
    seen = 0
    for bucket, count in ordered:
        if rank < seen + count:
            low, high = bucket_bounds(bucket)
            return low + (high - low) * (rank - seen + 0.5) / count
        seen += count
    raise ValueError("rank beyond the histogram")


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, interpolated between the two closest ranks as
    percentile_cont does; each rank's value is within its bucket (~9%) of the true one. None when empty."""
    total = sum(hist.values())
    if not total:
        return None
    ordered = sorted(hist.items())
    rank = q * (total - 1)
    below, above = math.floor(rank), math.ceil(rank)
    low = _value_at(ordered, below)
    return low + (rank - below) * (_value_at(ordered, above) - low)


_LATENCY_BUCKET = f"""floor({BUCKETS_PER_DOUBLING} * log(2::numeric, greatest(
    (extract(epoch FROM (r.end_time - r.start_time)) * 1000)::numeric, 0.01)))::int"""

# %(hours)s is a list of hour starts, %(project)s the project: one chunk of one project's hours. The
# DELETEs are statements of their own: an INSERT in the same statement would still see the old keys.
_DELETES = [
    f"DELETE FROM {table} WHERE project_id = %(project)s AND hour = ANY(%(hours)s::timestamptz[])"
    for table in ("traces_runhour", "traces_runhourbreakdown")
]
_RECOMPUTE = f"""
WITH hours AS (SELECT unnest(%(hours)s::timestamptz[]) AS hour),
runs AS (
    SELECT r.project_id, hours.hour, r.agent, r.bundle, r.environment, r.user_id, r.trace_id, r.start_time,
           r.error_count, r.cost_usd, r.input_tokens, r.output_tokens, r.unpriced_steps, r.step_count,
           r.tool_calls, CASE WHEN r.end_time IS NOT NULL THEN {_LATENCY_BUCKET} END AS lat
    FROM hours JOIN traces_run r
      ON r.project_id = %(project)s AND r.start_time >= hours.hour AND r.start_time < hours.hour + interval '1 hour'
), lat AS (
    SELECT project_id, hour, agent, bundle, environment, jsonb_object_agg(lat, n) AS hist FROM (
        SELECT project_id, hour, agent, bundle, environment, lat, count(*) AS n FROM runs
        WHERE lat IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6
    ) x GROUP BY 1, 2, 3, 4, 5
), shape AS (
    SELECT project_id, hour, agent, bundle, environment, jsonb_object_agg(step_count, n) AS hist FROM (
        SELECT project_id, hour, agent, bundle, environment, step_count, count(*) AS n FROM runs
        GROUP BY 1, 2, 3, 4, 5, 6
    ) x GROUP BY 1, 2, 3, 4, 5
), main AS (
    SELECT project_id, hour, agent, bundle, environment, count(*) AS runs,
           count(*) FILTER (WHERE error_count > 0) AS errors, coalesce(sum(cost_usd), 0) AS cost_usd,
           coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
           coalesce(sum(unpriced_steps), 0) AS unpriced_steps,
           count(*) FILTER (WHERE unpriced_steps > 0) AS runs_with_unpriced,
           coalesce(sum(step_count), 0) AS steps, coalesce(sum(tool_calls), 0) AS tool_calls
    FROM runs GROUP BY 1, 2, 3, 4, 5
), ins AS (
    INSERT INTO traces_runhour (
        project_id, hour, agent, bundle, environment, runs, errors, cost_usd, input_tokens, output_tokens,
        unpriced_steps, runs_with_unpriced, steps, tool_calls, latency_hist, steps_hist, computed_at
    )
    SELECT main.*, coalesce(lat.hist, '{{}}'), coalesce(shape.hist, '{{}}'), %(now)s
    FROM main LEFT JOIN lat USING (project_id, hour, agent, bundle, environment)
              LEFT JOIN shape USING (project_id, hour, agent, bundle, environment)
), steps AS (
    -- LATERAL: one primary-key probe (project, trace) per run. A plain join let Postgres, which cannot
    -- estimate the hours' runs (654 in one measured hour; it guessed 111,476), hash the whole steps
    -- table: 7.7 s an hour at 12M steps, against milliseconds this way.
    SELECT runs.project_id, runs.hour, runs.agent, runs.bundle, runs.environment, s.kind, s.model,
           s.tool_name, s.status, s.cost_usd, s.usage_is_aggregate
    FROM runs CROSS JOIN LATERAL (
        SELECT st.kind, st.model, st.tool_name, st.status, st.cost_usd, st.usage_is_aggregate
        FROM traces_step st
        WHERE st.project_id = runs.project_id AND st.trace_id = runs.trace_id AND st.start_time >= runs.start_time
    ) s
)
INSERT INTO traces_runhourbreakdown (project_id, hour, agent, bundle, environment, dim, key, count, errors, cost_usd)
SELECT project_id, hour, agent, bundle, environment, 'user', user_id, n, errors, cost FROM (
    SELECT project_id, hour, agent, bundle, environment, user_id, count(*) AS n,
           count(*) FILTER (WHERE error_count > 0) AS errors, coalesce(sum(cost_usd), 0) AS cost,
           row_number() OVER (PARTITION BY project_id, hour, agent, bundle, environment
                              ORDER BY coalesce(sum(cost_usd), 0) DESC, count(*) DESC, user_id) AS rank
    FROM runs GROUP BY 1, 2, 3, 4, 5, 6
) u WHERE rank <= {TOP_USERS}
UNION ALL
SELECT project_id, hour, agent, bundle, environment, 'model', model, count(*),
       count(*) FILTER (WHERE status = 'error'), coalesce(sum(cost_usd) FILTER (WHERE NOT usage_is_aggregate), 0)
FROM steps WHERE model IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 7
UNION ALL
SELECT project_id, hour, agent, bundle, environment, 'tool', tool_name, count(*),
       count(*) FILTER (WHERE status = 'error'), 0
FROM steps WHERE kind = 'TOOL' AND tool_name IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 7
"""


@dataclass(frozen=True, slots=True)
class RefreshResult:
    hours: int
    since: datetime | None


_HOURS_OF_RUNS = f"""
SELECT DISTINCT project_id, generate_series(
    date_trunc('hour', start_time),
    date_trunc('hour', least(coalesce(end_time, start_time), start_time + interval '{MAX_RUN_HOURS} hours')),
    interval '1 hour') AS hour
FROM traces_run
"""
# A project's catch-up looks back no further than this when nothing is known: older changes are the beat
# refresh's (a freshly seeded project must not be rolled up inside a page request).
INLINE_LOOKBACK = timedelta(hours=1)
# A page's catch-up gives up on any statement running longer than this (see the module docstring).
INLINE_BUDGET_MS = 250
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('traces.rollups'), %(project)s)"


def recompute_hours(project_id: int, hours: list[datetime], *, now: datetime) -> None:
    """Recompute one project's rollup rows of the given hour starts (an hour with no runs left ends up
    with no rows)."""
    with transaction.atomic(), connection.cursor() as cursor:
        params: dict[str, Any] = {"hours": hours, "project": project_id, "now": now}
        cursor.execute(_LOCK, params)
        for delete in _DELETES:
            cursor.execute(delete, params)
        cursor.execute(_RECOMPUTE, params)


def refresh(*, since: datetime | None = None) -> RefreshResult:
    """Recompute every hour holding a run changed since `since` (default: the last full refresh, less
    OVERLAP; everything on the first refresh), then record this refresh as the last."""
    from traces.models import RollupWatermark

    now = timezone.now()
    if since is None:
        mark = RollupWatermark.objects.filter(pk=1).first()
        since = mark.refreshed_at - OVERLAP if mark is not None else None
    with connection.cursor() as cursor:
        where = " WHERE updated_at >= %s" if since is not None else ""
        cursor.execute(f"{_HOURS_OF_RUNS}{where} ORDER BY 1, 2", [since] if since is not None else [])
        pairs = cursor.fetchall()
    by_project: dict[int, list[datetime]] = {}
    for project_id, hour in pairs:
        by_project.setdefault(project_id, []).append(hour)
    for project_id, hours in by_project.items():
        for i in range(0, len(hours), HOURS_PER_CHUNK):
            recompute_hours(project_id, hours[i : i + HOURS_PER_CHUNK], now=now)
    RollupWatermark.objects.update_or_create(pk=1, defaults={"refreshed_at": now})
    log.info("rollups.refreshed", extra={"event": "rollups.refreshed", "hours": len(pairs), "since": since})
    return RefreshResult(hours=len(pairs), since=since)


def refresh_project(project_id: int, *, budget_ms: int = INLINE_BUDGET_MS) -> int:
    """Catch one project's rollups up with its runs changed since they were last computed, as far as
    `budget_ms` per statement allows (see _catch_up). Returns the number of hours recomputed: 0 when
    there was nothing to do, or when the catch-up ran out of time and was rolled back whole."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Local to the transaction, which may be a caller's (a savepoint here): put it back after.
            cursor.execute("SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                           [f"{budget_ms}ms"])  # fmt: skip
            previous = cursor.fetchone()[0]
            hours = _catch_up(project_id)
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return hours
    except OperationalError as exc:  # statement_timeout: the beat refresh will do it
        log.info(
            "rollups.catch_up_skipped",
            extra={"event": "rollups.catch_up_skipped", "project": project_id, "error": str(exc).splitlines()[0]},
        )
        return 0


def _catch_up(project_id: int) -> int:
    """Catch one project's rollups up with its runs changed since they were last computed (no further
    back than the last full refresh or INLINE_LOOKBACK): the newest HOURS_PER_CHUNK such hours, in one
    transaction. Returns the number of hours recomputed. Leaves the full refresh's watermark alone."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH known AS (
                SELECT max(computed_at) AS at FROM traces_runhour
                WHERE project_id = %(project)s AND hour >= %(now)s::timestamptz - interval '2 days'
                UNION ALL SELECT refreshed_at FROM traces_rollupwatermark
                UNION ALL SELECT %(floor)s::timestamptz
            )
            SELECT hour FROM ({_HOURS_OF_RUNS}
                WHERE project_id = %(project)s AND updated_at >= (SELECT max(at) FROM known)) h
            ORDER BY hour DESC LIMIT %(limit)s
            """,
            {"project": project_id, "now": now, "floor": now - INLINE_LOOKBACK, "limit": HOURS_PER_CHUNK},
        )
        hours = [hour for (hour,) in cursor.fetchall()]
    if hours:
        recompute_hours(project_id, hours, now=now)
    return len(hours)
