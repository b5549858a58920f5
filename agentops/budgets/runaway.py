"""Runaway runs: runs that went past their agent's step cap, recorded once and alerted.

runaways_record(*, since=None, now=None): the periodic job (Celery beat: agentops.budgets.tasks). Reads
the runs changed since its watermark (JobWatermark "budgets.runaways_record", less OVERLAP, for runs
written by transactions that committed after the last pass read; FIRST_LOOKBACK on the first pass: a
cap applies to runs from about when it was made, not to a project's history) joined to the step caps of
their agents, and inserts a RunawayRun for each run past a cap (the first in caps_selectors.CAP_VALUES'
order, with the run's value then). The insert skips runs recorded already (ON CONFLICT on the
(project, trace_id) key), so a run is recorded once however often it is seen.

Alerting is the alerts engine's: a project's first step cap gives it a threshold rule on `runaway_runs`
(agentops.alerts.rules.RUNAWAY_RULE), which counts these rows among the runs of its window, opens an alert
in the Alerts tab (notified to the project's channels, linked to the run list's `?runaway=1`), reminds,
and resolves itself when the window holds none; it can be scoped, re-levelled or disabled like any rule.

Cost: the changed runs come from the runs' BRIN index on updated_at, as the bundles recorder's do; with
no step cap anywhere the pass reads no runs. An advisory lock queues a second pass behind the first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentops.budgets.caps_selectors import CAP_VALUES
from agentops.budgets.models import StepCap
from agentops.models import JobWatermark

log = logging.getLogger(__name__)

JOB = "budgets.runaways_record"
OVERLAP = timedelta(minutes=5)
FIRST_LOOKBACK = timedelta(hours=1)
ANALYZE_AFTER = 1000  # new rows in one pass

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('budgets.runaways_record'))"

_RECORD = f"""
INSERT INTO budgets_runawayrun (project_id, trace_id, agent, cap_id, cap_name, cap_value, value, detected_at)
SELECT DISTINCT ON (r.project_id, r.trace_id)
    r.project_id, r.trace_id, r.agent, c.id, v.cap_name, v.cap_value, v.value, %(now)s
FROM traces_run r JOIN budgets_stepcap c ON c.project_id = r.project_id AND c.agent = r.agent
{CAP_VALUES}
WHERE r.updated_at >= %(since)s AND v.value > v.cap_value
ORDER BY r.project_id, r.trace_id, v.rank
ON CONFLICT (project_id, trace_id) DO NOTHING
RETURNING id, project_id
"""


@dataclass(frozen=True, slots=True)
class RunawayResult:
    recorded: int
    projects: int
    since: datetime


def runaways_record(*, since: datetime | None = None, now: datetime | None = None) -> RunawayResult:
    """Record the runs past a step cap changed since `since` (default: see the module) and move the
    watermark to when this pass started."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LOCK)
        if since is None:
            mark = JobWatermark.objects.filter(name=JOB).first()
            since = mark.position - OVERLAP if mark is not None else now - FIRST_LOOKBACK
        rows: list[tuple[Any, ...]] = []
        if StepCap.objects.exists():
            cursor.execute(_RECORD, {"since": since, "now": now})
            rows = cursor.fetchall()
        projects = {row[1] for row in rows}
        JobWatermark.objects.update_or_create(name=JOB, defaults={"position": now})
        if len(rows) >= ANALYZE_AFTER:
            # The run list's runaway=1 plan depends on how many runaways the planner thinks there are:
            # with 50,000 rows it still counted 44 (autovacuum had not come by), walked them all and took
            # 1.8 s instead of 2 ms. A small table: ANALYZE takes milliseconds.
            cursor.execute("ANALYZE budgets_runawayrun")
    log.info(
        "budgets.runaways_recorded",
        extra={"event": "budgets.runaways_recorded", "recorded": len(rows), "projects": len(projects)},
    )
    return RunawayResult(recorded=len(rows), projects=len(projects), since=since)
