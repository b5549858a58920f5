"""Operational Celery tasks of the platform itself."""

from __future__ import annotations

from celery import Task, shared_task
from django.utils import timezone

from agentops.models import WorkerHeartbeat


@shared_task(bind=True, ignore_result=True)
def record_heartbeat(self: Task) -> str:
    """Record that a worker consumed a task from the broker; returns the worker's hostname."""
    hostname = self.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"seen_at": timezone.now()})
    return hostname
