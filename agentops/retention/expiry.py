"""The daily expiry of one project's data by its retention policy, in bounded batches.

`expire_project(project, policy, now=)`, for the runs not protected (agentops.retention.pins):
1. payloads of steps, runs and log records older than payload_days are cleared (set to null or empty):
   steps' input, output, error message, attributes and events; runs' input and output previews and
   search documents (traces.models.RunWords, the words of all their steps); log records' body and
   attributes. The runs' metrics (their rows and the rollups) are untouched.
2. steps (and their log records) older than step_days are deleted;
3. runs older than run_days are deleted with all their steps, log records and rollup ledger rows. The
   rollups themselves (traces_runhour and the rest, tables of their own) keep counting them: they are
   not retracted (traces.rollup_ledger.apply_runs is not called), so dashboards outlive runs.

Each batch is at most BATCH rows and its own short transaction, so ingest, which writes the same tables,
never waits long on a lock, and a job stopped halfway has done what it did. Steps are walked by the
(project, start_time) index; payloads from where the last job stopped (RetentionState.payloads_to), plus
the runs changed since the last job started (a span that arrived late for an old run), found by the run
table's updated_at index. Deletes walk from the oldest row each day: what they leave are protected rows.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentops.retention.models import RetentionPolicy, RetentionState
from agentops.retention.pins import protected_trace_ids
from agentops.tenancy.models import Project

log = logging.getLogger(__name__)

BATCH = 5000
# After each batch the job rests as long as the batch took, times PACE: it then holds at most half of
# the database's time (on a small machine a core is shared with ingest), at the cost of a daily job
# twice as long. bench/retention.py measures ingest with and without it.
PACE = 1.0
# The time walk of payloads starts a little before where it stopped: a span stored while the last job
# walked past its start time (in a transaction not yet committed) is not missed.
OVERLAP = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STEP_PAYLOAD = "(input IS NOT NULL OR output IS NOT NULL OR error_message IS NOT NULL OR attributes <> '{}'::jsonb OR events <> '[]'::jsonb)"
STEP_CLEAR = "input = NULL, output = NULL, error_message = NULL, attributes = '{}'::jsonb, events = '[]'::jsonb"
RUN_PAYLOAD = "(input_preview <> '' OR output_preview <> '')"
LOG_PAYLOAD = "(body IS NOT NULL OR attributes <> '{}'::jsonb)"

# One batch of the time walk: the next BATCH steps after (start_time, id), and the payloads among them
# cleared. The walk's position comes back even when nothing in the batch had a payload left.
_STEP_PAYLOAD_BATCH = f"""
WITH batch AS (
    SELECT id, start_time, trace_id, {STEP_PAYLOAD} AS loaded FROM traces_step
    WHERE project_id = %(project)s AND start_time >= %(after_time)s AND start_time < %(cutoff)s
      AND (start_time, id) > (%(after_time)s, %(after_id)s)
    ORDER BY start_time, id LIMIT %(batch)s
), cleared AS (
    UPDATE traces_step s SET {STEP_CLEAR} FROM batch b
    WHERE s.project_id = %(project)s AND s.start_time = b.start_time AND s.id = b.id AND b.loaded
      AND s.trace_id <> ALL(%(kept)s::uuid[])
    RETURNING s.trace_id
), logs AS (
    UPDATE traces_logrecord SET body = NULL, attributes = '{{}}'::jsonb
    WHERE project_id = %(project)s AND trace_id IN (SELECT DISTINCT trace_id FROM cleared)
      AND time < %(cutoff)s AND {LOG_PAYLOAD}
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM cleared), (SELECT count(*) FROM logs),
       last.start_time, last.id
FROM (SELECT start_time, id FROM batch ORDER BY start_time DESC, id DESC LIMIT 1) last
"""

_RUN_PAYLOAD_BATCH = f"""
WITH batch AS (
    SELECT id, trace_id, start_time, {RUN_PAYLOAD} AS loaded FROM traces_run
    WHERE project_id = %(project)s AND start_time >= %(after_time)s AND start_time < %(cutoff)s
      AND (start_time, id) > (%(after_time)s, %(after_id)s)
    ORDER BY start_time, id LIMIT %(batch)s
), cleared AS (
    -- updated_at is left alone: clearing a preview changes no metric the rollups would recompute.
    UPDATE traces_run r SET input_preview = '', output_preview = '' FROM batch b
    WHERE r.id = b.id AND b.loaded AND r.trace_id <> ALL(%(kept)s::uuid[])
    RETURNING 1
), words AS (
    -- the run's search document holds its steps' words: it goes with the previews
    DELETE FROM traces_runwords w USING batch b WHERE w.run_id = b.id AND b.trace_id <> ALL(%(kept)s::uuid[])
    RETURNING 1  -- a data-modifying WITH runs to the end whether or not it is read
)
SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM cleared), 0, last.start_time, last.id
FROM (SELECT start_time, id FROM batch ORDER BY start_time DESC, id DESC LIMIT 1) last
"""

# The payloads of runs that changed since the last job and started before the cutoff: spans that came
# late, behind the time walk. By trace: the steps' primary key, the log records' unique key.
_LATE_RUNS = """
SELECT trace_id FROM traces_run
WHERE updated_at >= %(since)s AND project_id = %(project)s AND start_time < %(cutoff)s
  AND trace_id <> ALL(%(kept)s::uuid[])
"""
_LATE_CLEAR = [
    f"UPDATE traces_step SET {STEP_CLEAR} WHERE project_id = %(project)s AND trace_id = ANY(%(traces)s::uuid[])"
    f" AND start_time < %(cutoff)s AND {STEP_PAYLOAD}",
    f"UPDATE traces_run SET input_preview = '', output_preview = '' WHERE project_id = %(project)s"
    f" AND trace_id = ANY(%(traces)s::uuid[]) AND {RUN_PAYLOAD}",
    "UPDATE traces_logrecord SET body = NULL, attributes = '{}'::jsonb WHERE project_id = %(project)s"
    f" AND trace_id = ANY(%(traces)s::uuid[]) AND time < %(cutoff)s AND {LOG_PAYLOAD}",
    "DELETE FROM traces_runwords WHERE run_id IN (SELECT id FROM traces_run WHERE project_id = %(project)s"
    " AND trace_id = ANY(%(traces)s::uuid[]))",
]

_STEP_DELETE_BATCH = """
WITH batch AS (
    SELECT id, start_time FROM traces_step
    WHERE project_id = %(project)s AND start_time < %(cutoff)s AND trace_id <> ALL(%(kept)s::uuid[])
    ORDER BY start_time LIMIT %(batch)s
), gone AS (
    DELETE FROM traces_step s USING batch b
    WHERE s.project_id = %(project)s AND s.start_time = b.start_time AND s.id = b.id
    RETURNING s.trace_id
), logs AS (
    DELETE FROM traces_logrecord
    WHERE project_id = %(project)s AND trace_id IN (SELECT DISTINCT trace_id FROM gone) AND time < %(cutoff)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM logs)
"""

_RUN_BATCH = """
SELECT id, trace_id FROM traces_run
WHERE project_id = %(project)s AND start_time < %(cutoff)s AND trace_id <> ALL(%(kept)s::uuid[])
ORDER BY start_time LIMIT %(batch)s
"""


# What the job is sure to see of the runs' updated_at (set by ingest to its transaction's start): the start
# of the oldest transaction still open, since one that began earlier may commit a late span after the job
# read. Capped at a day back, so that a transaction left open does not widen every later job.
_HORIZON = """
SELECT greatest(least(now(), min(xact_start)), now() - interval '1 day') FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
"""


def _horizon() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute(_HORIZON)
        row = cursor.fetchone()
    return row[0] if row and row[0] else timezone.now()


@dataclass
class Expired:
    """What one job did to one project (or, summed, to all)."""

    payload_steps: int = 0
    payload_runs: int = 0
    payload_logs: int = 0
    steps: int = 0
    log_records: int = 0
    runs: int = 0
    audit_events: int = 0
    partitions: list[str] = field(default_factory=list)

    def add(self, other: Expired) -> None:
        for name in ("payload_steps", "payload_runs", "payload_logs", "steps", "log_records", "runs", "audit_events"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.partitions += other.partitions


def cutoff(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def pause(started: float) -> None:
    """Rest after a batch that began at `started` (time.perf_counter()): see PACE."""
    time.sleep((time.perf_counter() - started) * PACE)


def _one(sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    pause(started)
    return row


def _walk_payloads(sql: str, params: dict[str, Any], start: datetime) -> tuple[int, int]:
    """Run a payload batch from `start` until the walk reaches the cutoff; (cleared, log records)."""
    cleared = logs = 0
    after_time, after_id = start, 0
    while True:
        row = _one(sql, params | {"after_time": after_time, "after_id": after_id, "batch": BATCH})
        if row is None:  # the batch was empty: the walk is at the cutoff
            return cleared, logs
        seen, done, logged, after_time, after_id = row
        cleared, logs = cleared + done, logs + logged
        if seen < BATCH:
            return cleared, logs


def _clear_payloads(project: Project, state: RetentionState, until: datetime, kept: list[uuid.UUID]) -> Expired:
    params: dict[str, Any] = {"project": project.pk, "cutoff": until, "kept": kept}
    start = state.payloads_to - OVERLAP if state.payloads_to else _EPOCH
    expired = Expired()
    expired.payload_steps, expired.payload_logs = _walk_payloads(_STEP_PAYLOAD_BATCH, params, start)
    expired.payload_runs, _ = _walk_payloads(_RUN_PAYLOAD_BATCH, params, start)
    if state.runs_seen_at is not None:
        with connection.cursor() as cursor:
            cursor.execute(_LATE_RUNS, params | {"since": state.runs_seen_at})
            late = [row[0] for row in cursor.fetchall()]
        for i in range(0, len(late), BATCH):
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                counts = []
                for sql in _LATE_CLEAR:
                    cursor.execute(sql, params | {"traces": late[i : i + BATCH]})
                    counts.append(cursor.rowcount)
            pause(started)
            expired.payload_steps += counts[0]
            expired.payload_runs += counts[1]
            expired.payload_logs += counts[2]
    state.payloads_to = max(until, state.payloads_to or until)
    return expired


def _delete_steps(project: Project, until: datetime, kept: list[uuid.UUID]) -> tuple[int, int]:
    steps = logs = 0
    while True:
        row = _one(_STEP_DELETE_BATCH, {"project": project.pk, "cutoff": until, "kept": kept, "batch": BATCH})
        gone, logged = row or (0, 0)
        steps, logs = steps + gone, logs + logged
        if gone < BATCH:
            return steps, logs


def _delete_runs(project: Project, until: datetime, kept: list[uuid.UUID]) -> tuple[int, int, int]:
    """Runs older than `until` with every step and log record of theirs, whatever its time, and their
    rollup ledger rows (their contribution to the rollups stays: see the module docstring)."""
    runs = steps = logs = 0
    params: dict[str, Any] = {"project": project.pk, "cutoff": until, "kept": kept, "batch": BATCH}
    while True:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_RUN_BATCH, params)
            rows = cursor.fetchall()
            if not rows:
                return runs, steps, logs
            ids, traces = [r[0] for r in rows], [r[1] for r in rows]
            counts = delete_runs_rows(cursor, project.pk, ids, traces)
        pause(started)
        runs, steps, logs = runs + counts[0], steps + counts[1], logs + counts[2]
        if len(rows) < BATCH:
            return runs, steps, logs


def delete_runs_rows(
    cursor: Any, project_id: int, run_ids: list[int], traces: list[uuid.UUID], *, ledger: bool = True
) -> tuple[int, int, int]:
    """Delete runs (by id) with their steps and log records; (runs, steps, log records). With `ledger`,
    their rollup ledger rows too, leaving the rollups as they are; without, the caller retracts the runs
    from the rollups (traces.rollup_ledger.apply_runs reads those rows to know what to subtract)."""
    args = {"project": project_id, "ids": run_ids, "traces": traces}
    cursor.execute(
        "DELETE FROM traces_step WHERE project_id = %(project)s AND trace_id = ANY(%(traces)s::uuid[])", args
    )
    steps = cursor.rowcount
    cursor.execute(
        "DELETE FROM traces_logrecord WHERE project_id = %(project)s AND trace_id = ANY(%(traces)s::uuid[])", args
    )
    logs = cursor.rowcount
    if ledger:
        cursor.execute("DELETE FROM traces_runrollup WHERE run_id = ANY(%(ids)s::bigint[])", args)
    cursor.execute("DELETE FROM traces_run WHERE project_id = %(project)s AND id = ANY(%(ids)s::bigint[])", args)
    return cursor.rowcount, steps, logs


def protected(project: Project, policy: RetentionPolicy, now: datetime) -> list[uuid.UUID]:
    """The trace ids this project's expiry must not touch (none to look for when it keeps everything)."""
    latest = cutoff(now, policy.payload_days)
    return sorted(protected_trace_ids(project, older_than=latest)) if latest else []


def expire_project(project: Project, policy: RetentionPolicy, *, now: datetime, kept: list[uuid.UUID]) -> Expired:
    """Apply `policy` to `project` as of `now`, leaving the runs of `kept` (trace ids) alone."""
    expired = Expired()
    started = _horizon()
    payload_cutoff = cutoff(now, policy.payload_days)
    if payload_cutoff is None:
        return expired  # keeps everything for ever (payload <= step <= run)
    state, _ = RetentionState.objects.get_or_create(project=project)
    expired.add(_clear_payloads(project, state, payload_cutoff, kept))
    step_cutoff = cutoff(now, policy.step_days)
    if step_cutoff is not None:
        expired.steps, expired.log_records = _delete_steps(project, step_cutoff, kept)
    run_cutoff = cutoff(now, policy.run_days)
    if run_cutoff is not None:
        runs, steps, logs = _delete_runs(project, run_cutoff, kept)
        expired.runs, expired.steps, expired.log_records = runs, expired.steps + steps, expired.log_records + logs
    state.runs_seen_at = started
    state.save(update_fields=["payloads_to", "runs_seen_at"])
    log.info(
        "retention applied",
        extra={
            "event": "retention.project",
            "project": project.pk,
            **{k: v for k, v in vars(expired).items() if k != "partitions"},
        },
    )
    return expired
