"""The audit log: append-only, hash-chained events for every change to membership, roles and keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentops.tenancy.models import AuditEvent, Organization, Project

GENESIS = "0" * 64
# One chain for the whole installation: a transaction-scoped advisory lock serializes appends so that
# two concurrent changes cannot both link to the same predecessor.
_CHAIN_LOCK = 0x0A6E7A0D


def _digest(prev_hash: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _body(event: AuditEvent) -> dict[str, Any]:
    return {
        "organization": event.organization_id,
        "project": event.project_id,
        "actor": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "before": event.before,
        "after": event.after,
        "created_at": event.created_at.isoformat(),
    }


@transaction.atomic
def audit_record(
    *,
    actor: Any,
    action: str,
    target_type: str,
    target_id: str | int,
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    project: Project | None = None,
    organization: Organization | None = None,
) -> AuditEvent:
    """Append one event. `actor` is a user, or None for the system (the CLI run by an operator)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        organization=organization or (project.organization if project else None),
        project=project,
        actor=actor if is_user else None,
        actor_label=str(actor) if is_user else "system (command line)",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        target_label=target_label,
        before=before,
        after=after,
        created_at=timezone.now(),
        prev_hash=last or GENESIS,
    )
    event.hash = _digest(event.prev_hash, _body(event))
    event.save()
    return event


def verify_chain() -> int | None:
    """The id of the first event whose hash does not match its content or predecessor, else None."""
    prev = GENESIS
    for event in AuditEvent.objects.order_by("id").iterator():
        if event.prev_hash != prev or event.hash != _digest(prev, _body(event)):
            return event.id
        prev = event.hash
    return None
