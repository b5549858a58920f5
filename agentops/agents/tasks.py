"""Celery tasks of agents.

record_bundles: record the agents and bundles of runs changed since the last pass
(agentops.agents.services.bundles_record). Scheduled every minute by beat (agentops/celery.py), with an
expiry, so a backlog of passes collapses to one. Returns the number of bundles recomputed. Safe beside
ingest and beside itself (an advisory lock queues a second pass behind the first).
"""

from __future__ import annotations

from celery import shared_task

from agentops.agents.services import bundles_record


@shared_task(ignore_result=True)
def record_bundles() -> int:
    return bundles_record().bundles
