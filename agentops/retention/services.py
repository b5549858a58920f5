"""The daily retention job's work: `retention_apply(now=)` applies every project's policy, then the audit
log's retention; returns what it did (expiry.Expired, summed over projects).

Order: first the partitions of traces_step past every project's step retention are dropped whole
(partitions.py), which costs nothing per row; then each project's rows are expired in batches
(expiry.py); then the audit events (audit_expiry.py). A project that failed is logged and the others go
on: the next day starts again from where each one stopped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db import DatabaseError

from agentops.retention.audit_expiry import audit_expire
from agentops.retention.expiry import Expired, expire_project, protected
from agentops.retention.models import RetentionPolicy
from agentops.retention.partitions import drop_expired_partitions
from agentops.retention.policy import defaults
from agentops.tenancy.models import Project

log = logging.getLogger(__name__)


def _policies() -> list[tuple[Project, RetentionPolicy]]:
    stored = {p.project_id: p for p in RetentionPolicy.objects.all()}
    return [
        (project, stored.get(project.pk) or RetentionPolicy(project=project, **defaults()))
        for project in Project.objects.order_by("pk")
    ]


def partitions_before(policies: list[RetentionPolicy], now: datetime) -> datetime | None:
    """The time before which no project keeps steps: None when one keeps them for ever (or none exists)."""
    days = [p.step_days for p in policies]
    if not days or None in days:
        return None
    return now - timedelta(days=max(d for d in days if d is not None))


def retention_apply(*, now: datetime) -> Expired:
    total = Expired()
    plan = [(project, policy, protected(project, policy, now)) for project, policy in _policies()]
    kept: list[tuple[int, uuid.UUID]] = [(project.pk, t) for project, _, traces in plan for t in traces]
    total.partitions = drop_expired_partitions(partitions_before([p for _, p, _ in plan], now), kept)
    for project, policy, traces in plan:
        try:
            total.add(expire_project(project, policy, now=now, kept=traces))
        except DatabaseError as exc:
            log.exception(
                "retention failed", extra={"event": "retention.failed", "project": project.pk, "error": str(exc)}
            )
    total.audit_events = audit_expire(now=now)
    return total
