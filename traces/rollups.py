"""Hourly rollups behind the dashboards: traces_runhour and traces_runhourbreakdown.

Why not an increment in the ingest transaction: a run's agent, bundle, environment, start, end and status
settle only as its spans arrive (in any order, sometimes days apart), so an increment per batch would
have to know what the run counted for before; and ingest must not slow down. Why not recompute the hours
of changed runs whole (as this did before): under live traffic the current hour holds millions of
steps by its end, and every refresh read all of them again (10-29 s a refresh at a million runs).

So each run's last contribution is kept (traces_runrollup, see traces.rollup_ledger), and a refresh
applies, for each run changed since, the new contribution minus the old one: its cost follows the runs
that changed (and their steps), not the size of the hours they fall in. A run whose start, agent or
bundle changed retracts from its old row; one whose status turned to error moves from one count to the
other. Runs written straight to the database (bench/seed_scale.py, imports) are picked up the same way,
by traces_run.updated_at. A deleted run is not found that way: whatever deletes runs (a retention job,
when there is one) passes their ids to traces.rollup_ledger.apply_runs, which retracts them, or calls
`rebuild`.

`refresh()` (Celery beat, every minute: agentops/celery.py): the runs updated since the last refresh
saw (a BRIN index on updated_at), each project's in chunks of CHUNK_RUNS, each chunk one transaction
under the project's advisory lock. The first refresh (no watermark: a new install, or the migration
that brought the ledger) rebuilds every project from scratch (`rebuild`), as does `rebuild()` for a
repair. How far a refresh saw is the start of the oldest transaction still open when it began (a run
such a transaction writes carries updated_at = its start, and may commit after the refresh has read),
at most LOOKBACK_CAP back; runs seen twice cost a look at their ledger row, never a double count.

`refresh_project(project_id)`: so that a run shows on the dashboard as soon as it is stored, a dashboard
request first applies its own project's newest changed runs (at most CATCH_UP_RUNS, newest first),
within INLINE_BUDGET_MS per statement; a page that cannot finish in time gives up and shows the
rollups as the last refresh left them. A run counts in the hour it started in; so do its steps.

End users are many, so each hour keeps its TOP_USERS end users by cost per (agent, bundle, environment)
in traces_runhourbreakdown (all of them in traces_runhouruser). Latency is kept as a sparse histogram
with 8 buckets per doubling (traces.rollup_hist).

The whole-hour recompute is kept as a reference (traces.rollup_whole.recompute_hours): tests check the
ledger's rollups against it, and bench/rollups.py measures both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from traces.rollup_hist import BUCKETS_PER_DOUBLING, bucket_bounds, latency_bucket, percentile
from traces.rollup_ledger import CHANGED, TOP_USERS, apply_runs, rebuild_project
from traces.rollup_whole import recompute_hours

__all__ = [
    "BUCKETS_PER_DOUBLING", "TOP_USERS", "RefreshResult", "bucket_bounds", "latency_bucket", "percentile",
    "rebuild", "recompute_hours", "refresh", "refresh_project",
]  # fmt: skip

log = logging.getLogger(__name__)

# Runs per transaction: at 10,000 spans/s a minute of traffic is ~48,000 runs, a few chunks.
CHUNK_RUNS = 10_000
# updated_at comes from the database's clock (ingest) or a web server's (ORM saves): allow for skew.
OVERLAP = timedelta(seconds=30)
# An open transaction older than this (an idle session, a long export) no longer holds the refresh back;
# a run it writes later may wait for that run's next change, or a rebuild. The old refresh's overlap.
LOOKBACK_CAP = timedelta(minutes=5)
# A page's catch-up: at most this many of its project's changed runs, within this budget a statement.
CATCH_UP_RUNS = 500
INLINE_BUDGET_MS = 250
# A project's catch-up looks back no further than this: older changes are the beat refresh's.
INLINE_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    runs: int  # runs whose contribution was applied
    hours: int  # (project, hour) pairs whose rows changed, summed over chunks
    since: datetime | None  # None: a rebuild from scratch


_HORIZON = """
SELECT greatest(least(now(), min(xact_start)), now() - make_interval(secs => %s)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
"""


def _horizon() -> datetime:
    """How far a refresh that reads from now on is sure to see (see the module docstring)."""
    with connection.cursor() as cursor:
        cursor.execute(_HORIZON, [LOOKBACK_CAP.total_seconds()])
        seen: datetime = cursor.fetchone()[0]
    return seen


def refresh(*, since: datetime | None = None) -> RefreshResult:
    """Apply every run changed since `since` (default: what the last refresh saw, less OVERLAP; a rebuild
    of everything on the first refresh), then record how far this one saw."""
    from traces.models import RollupWatermark

    now = timezone.now()
    seen = _horizon()
    if since is None:
        mark = RollupWatermark.objects.filter(pk=1).first()
        if mark is None:
            result = rebuild()
            RollupWatermark.objects.update_or_create(pk=1, defaults={"refreshed_at": seen})
            return result
        since = mark.refreshed_at - OVERLAP
    with connection.cursor() as cursor:
        cursor.execute("SELECT project_id, id FROM traces_run WHERE updated_at >= %s ORDER BY 1, 2", [since])
        pairs = cursor.fetchall()
    by_project: dict[int, list[int]] = {}
    for project_id, run_id in pairs:
        by_project.setdefault(project_id, []).append(run_id)
    runs = hours = 0
    for project_id, ids in by_project.items():
        for i in range(0, len(ids), CHUNK_RUNS):
            applied = apply_runs(project_id, ids[i : i + CHUNK_RUNS], now=now)
            runs, hours = runs + applied.runs, hours + applied.hours
    RollupWatermark.objects.update_or_create(pk=1, defaults={"refreshed_at": seen})
    log.info(
        "rollups.refreshed",
        extra={"event": "rollups.refreshed", "runs": runs, "hours": hours, "candidates": len(pairs), "since": since},
    )
    return RefreshResult(runs=runs, hours=hours, since=since)


def rebuild(project_ids: list[int] | None = None) -> RefreshResult:
    """Recompute the ledger and rollups of these projects (default: every project) from scratch, one
    transaction a project. Leaves the watermark alone."""
    from agentops.tenancy.models import Project

    now = timezone.now()
    if project_ids is None:
        project_ids = list(Project.objects.order_by("pk").values_list("pk", flat=True))
    runs = hours = 0
    for project_id in project_ids:
        applied = rebuild_project(project_id, now=now)
        runs, hours = runs + applied.runs, hours + applied.hours
    log.info("rollups.rebuilt", extra={"event": "rollups.rebuilt", "projects": len(project_ids), "runs": runs})
    return RefreshResult(runs=runs, hours=hours, since=None)


def refresh_project(project_id: int, *, budget_ms: int = INLINE_BUDGET_MS) -> int:
    """Catch one project's rollups up with its newest changed runs, as far as `budget_ms` per statement
    allows. Returns the number of runs applied: 0 when there was nothing to do, or when the catch-up ran
    out of time and was rolled back whole."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Local to the transaction, which may be a caller's (a savepoint here): put it back after.
            cursor.execute("SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                           [f"{budget_ms}ms"])  # fmt: skip
            previous = cursor.fetchone()[0]
            runs = _catch_up(project_id)
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return runs
    except OperationalError as exc:  # statement_timeout: the beat refresh will do it
        log.info(
            "rollups.catch_up_skipped",
            extra={"event": "rollups.catch_up_skipped", "project": project_id, "error": str(exc).splitlines()[0]},
        )
        return 0


# Before the first refresh, a project whose rollups were written by the whole-hour recompute (before the
# ledger existed) has rows no ledger row accounts for: adding to them would count runs twice.
# The runs changed since `since` are found first (MATERIALIZED, by the updated_at index) and only then
# joined to their ledger rows and ordered: with the bound inside the query, Postgres could not tell how
# many runs it keeps and joined all of a million runs' ledger rows, or walked the newest runs, to find
# none: 690 ms, past the 250 ms budget, on every dashboard request of a large project with no new runs.
_CATCH_UP = f"""
WITH r AS MATERIALIZED (
    SELECT id, start_time, updated_at, step_count FROM traces_run
    WHERE project_id = %(project)s AND updated_at >= %(since)s
)
SELECT r.id FROM r LEFT JOIN traces_runrollup l ON l.run_id = r.id
WHERE {CHANGED}
  AND (%(refreshed)s
       OR EXISTS (SELECT FROM traces_runrollup WHERE project_id = %(project)s)
       OR NOT EXISTS (SELECT FROM traces_runhour WHERE project_id = %(project)s))
ORDER BY r.start_time DESC, r.id DESC LIMIT %(limit)s
"""


def _catch_up(project_id: int) -> int:
    """Apply one project's newest CATCH_UP_RUNS changed runs (changed since the last refresh, and within
    INLINE_LOOKBACK), in one transaction. Leaves the refresh's watermark alone."""
    from traces.models import RollupWatermark

    now = timezone.now()
    mark = RollupWatermark.objects.aggregate(at=Max("refreshed_at"))["at"]
    since = now - INLINE_LOOKBACK if mark is None else max(mark - OVERLAP, now - INLINE_LOOKBACK)
    with connection.cursor() as cursor:
        cursor.execute(
            _CATCH_UP, {"project": project_id, "since": since, "refreshed": mark is not None, "limit": CATCH_UP_RUNS}
        )
        ids = [run_id for (run_id,) in cursor.fetchall()]
    if not ids:
        return 0
    return apply_runs(project_id, ids, now=now).runs
