"""Writes of agents and bundles.

bundles_record: the periodic recorder (Celery beat, every minute: agentops.agents.tasks). Finds the
(project, agent, bundle, environment) keys of runs changed since its watermark (traces_run.updated_at,
a BRIN index, as the rollup refresh does), and upserts the agents and bundles: first and last seen
widened by the changed runs' start times (exact: the first pass reads every run), the run count summed
from the dashboards' hourly rollups (traces_runhour, which traces.rollups keeps recomputed from the
runs), then re-derives the automatic baselines of the agents it touched. Its cost follows the runs that
changed and the rollup hours, not the size of a bundle: recounting a busy bundle's runs each minute cost
0.8 s at 200,000 runs and would grow with it. Ingest itself writes nothing here, so it is no slower.

Known gaps: the run count trails the rollup refresh (a minute, as the dashboards do); a run whose agent
or bundle changes after it was recorded (a later span names a better agent) leaves the old bundle's
first/last seen and count as they were until it has runs again.

bundle_set_baseline: a user's choice of baseline, or (None) back to the automatic one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentops.agents.models import Bundle
from agentops.models import JobWatermark
from agentops.tenancy.audit import audit_record

log = logging.getLogger(__name__)

RECORDER = "agents.bundles_record"
# Runs updated shortly before the last pass read may have committed after it: look back this far.
OVERLAP = timedelta(minutes=5)

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('agents.bundles_record'))"

_UPSERT = """
WITH changed AS (
    SELECT project_id, agent, bundle, environment, min(start_time) AS first_seen, max(start_time) AS last_seen
    FROM traces_run
    WHERE agent <> '' AND bundle <> '' {since}
    GROUP BY 1, 2, 3, 4
), counts AS (
    SELECT h.project_id, h.agent, h.bundle, h.environment, sum(h.runs) AS run_count
    FROM traces_runhour h
    WHERE h.project_id IN (SELECT DISTINCT project_id FROM changed)
    GROUP BY 1, 2, 3, 4
), stats AS (
    SELECT c.*, coalesce(n.run_count, 0) AS run_count
    FROM changed c LEFT JOIN counts n USING (project_id, agent, bundle, environment)
), agents AS (
    INSERT INTO agents_agent (project_id, name, first_seen, last_seen)
    SELECT project_id, agent, min(first_seen), max(last_seen) FROM stats GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (project_id, name) DO UPDATE
        SET first_seen = least(agents_agent.first_seen, excluded.first_seen),
            last_seen = greatest(agents_agent.last_seen, excluded.last_seen)
    RETURNING id, project_id, name
)
INSERT INTO agents_bundle (project_id, agent_id, name, environment, first_seen, last_seen, run_count, baseline_set_by)
SELECT s.project_id, a.id, s.bundle, s.environment, s.first_seen, s.last_seen, s.run_count, 'auto'
FROM stats s JOIN agents a ON a.project_id = s.project_id AND a.name = s.agent
ORDER BY a.id, s.bundle, s.environment
ON CONFLICT (agent_id, name, environment) DO UPDATE
    SET first_seen = least(agents_bundle.first_seen, excluded.first_seen),
        last_seen = greatest(agents_bundle.last_seen, excluded.last_seen),
        run_count = excluded.run_count
RETURNING agent_id
"""

# The automatic baseline: the previous bundle of the same agent and environment by first_seen.
_BASELINES = """
WITH ordered AS (
    SELECT id, lag(id) OVER (PARTITION BY agent_id, environment ORDER BY first_seen, id) AS previous
    FROM agents_bundle WHERE agent_id = ANY(%(agents)s)
)
UPDATE agents_bundle b SET baseline_id = o.previous
FROM ordered o
WHERE b.id = o.id AND b.baseline_set_by = 'auto' AND b.baseline_id IS DISTINCT FROM o.previous
"""


@dataclass(frozen=True, slots=True)
class RecordResult:
    bundles: int
    agents: int
    since: datetime | None


def bundles_record(*, since: datetime | None = None) -> RecordResult:
    """Record the agents and bundles of runs changed since `since` (default: the last pass, less
    OVERLAP; every run on the first pass), then move the watermark to when this pass started."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LOCK)
        if since is None:
            mark = JobWatermark.objects.filter(name=RECORDER).first()
            since = mark.position - OVERLAP if mark is not None else None
        where = "AND updated_at >= %(since)s" if since is not None else ""
        cursor.execute(_UPSERT.format(since=where), {"since": since})
        touched = [agent_id for (agent_id,) in cursor.fetchall()]
        agents = sorted(set(touched))
        if agents:
            cursor.execute(_BASELINES, {"agents": agents})
        JobWatermark.objects.update_or_create(name=RECORDER, defaults={"position": now})
    log.info(
        "agents.bundles_recorded",
        extra={"event": "agents.bundles_recorded", "bundles": len(touched), "agents": len(agents), "since": since},
    )
    return RecordResult(bundles=len(touched), agents=len(agents), since=since)


@transaction.atomic
def bundle_set_baseline(*, bundle: Bundle, baseline: Bundle | None, actor: Any = None) -> Bundle:
    """Pin `bundle`'s baseline to `baseline` (a bundle of the same agent), or with None hand it back to
    the recorder's automatic choice, recomputed now. Audited: a baseline decides what a canary passes."""
    if baseline is not None:
        if baseline.agent_id != bundle.agent_id:
            raise ValueError("a baseline must be a bundle of the same agent")
        if baseline.pk == bundle.pk:
            raise ValueError("a bundle cannot be its own baseline")
    before = {"baseline": bundle.baseline.name if bundle.baseline else None, "set_by": bundle.baseline_set_by}
    if baseline is not None:
        bundle.baseline, bundle.baseline_set_by = baseline, Bundle.SetBy.USER
        bundle.save(update_fields=["baseline", "baseline_set_by"])
    else:
        bundle.baseline_set_by = Bundle.SetBy.AUTO
        bundle.save(update_fields=["baseline_set_by"])
        with connection.cursor() as cursor:
            cursor.execute(_BASELINES, {"agents": [bundle.agent_id]})
        bundle.refresh_from_db()
    audit_record(
        actor=actor,
        action="bundle.baseline_set",
        target_type="bundle",
        target_id=bundle.pk,
        target_label=f"{bundle.agent.name} {bundle}",
        before=before,
        after={"baseline": bundle.baseline.name if bundle.baseline else None, "set_by": bundle.baseline_set_by},
        project=bundle.project,
    )
    return bundle
