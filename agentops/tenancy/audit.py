"""The audit log: append-only, hash-chained events for every change to membership, roles, keys, rules.

- `audit_record(actor=..., action=..., ...)` appends one event to its chain and returns it. `actor` is a
  user, an ingest key (an `IngestKey` or the `IngestKeyPrincipal` of a request), or None for the system;
  the system's label says which part acted: `system=` when the caller knows it, else the Celery task
  being run, else "command line".
- `verify(project=None)` walks the chain(s) and returns the first `Break` (event id, time, chain, the
  check that failed) or None; `verify_chain()` is its older form (the id or None).

Chains. Each project has its own chain (`chain = "project:<id>"`); an event without a project belongs
to its organization's chain (`"org:<id>"`), and one with neither to `"global"`. Organization rather than
one global chain for project-less events: an organization is the tenant, so its changes are locked,
verified and exported without touching any other tenant's. Each chain is appended under its own
transaction-scoped advisory lock (the chain name hashed into the second key), so two projects never
wait on each other, while two changes to one project cannot both link to the same predecessor.

Legacy events. Events written before per-project chains formed one global chain whose hash did not
cover `chain` or `actor_kind`. The migration that added the `chain` column marked all of them
`chain = "legacy"`; they keep verifying as that one chain, in id order, with the old body. A new event
hashes its chain name and actor kind too, so it cannot be moved to another chain (or made to look
legacy) without breaking its hash.

Expired events. Audit retention (agentops.retention.audit_expiry) deletes a chain's oldest events and
keeps the hash of the last one deleted as the chain's anchor: verification starts the chain from it.

What a hash chain cannot see: removing the newest events of a chain leaves a shorter chain that still
verifies. Exports (`agentops.tenancy.audit_export`) carry each event's hash, so a kept export pins
the head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentops.tenancy.models import AuditEvent, IngestKey, Organization, Project

GENESIS = "0" * 64
LEGACY_CHAIN = "legacy"
GLOBAL_CHAIN = "global"
# The first key of the two-int advisory lock: the audit log's lock space; the second is the chain's.
_CHAIN_LOCK = 0x0A6E7A0D
_VERIFY_BATCH = 2000


def _digest(prev_hash: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _body(event: AuditEvent) -> dict[str, Any]:
    body = {
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
    if event.chain != LEGACY_CHAIN:
        body["chain"] = event.chain
        body["actor_kind"] = event.actor_kind
    return body


def chain_of(*, project: Project | None, organization: Organization | None) -> str:
    if project is not None:
        return f"project:{project.pk}"
    if organization is not None:
        return f"org:{organization.pk}"
    return GLOBAL_CHAIN


def _system_label() -> str:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return "command line"
    # A proxy: false outside a task. Beat's jobs run as tasks, so this names the job.
    if current_task and getattr(current_task.request, "id", None):
        return f"task {current_task.name}"
    return "command line"


def _actor(actor: Any, system: str | None) -> tuple[Any, str, str]:
    """(user or None, actor_kind, actor_label) of whoever acted."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor, AuditEvent.ActorKind.USER, str(actor)
    key = actor if isinstance(actor, IngestKey) else getattr(actor, "key", None)
    if isinstance(key, IngestKey):
        return None, AuditEvent.ActorKind.INGEST_KEY, f"ingest key {key.prefix}… ({key.name})"
    return None, AuditEvent.ActorKind.SYSTEM, f"system ({system or _system_label()})"


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
    system: str | None = None,
) -> AuditEvent:
    """Append one event to its chain (see the module docstring for chains and actors)."""
    organization = organization or (project.organization if project else None)
    chain = chain_of(project=project, organization=organization)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_CHAIN_LOCK, chain])
    last = AuditEvent.objects.filter(chain=chain).order_by("-id").values_list("hash", flat=True).first()
    user, kind, label = _actor(actor, system)
    event = AuditEvent(
        organization=organization,
        project=project,
        chain=chain,
        actor=user,
        actor_kind=kind,
        actor_label=label[:254],
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


@dataclass(frozen=True)
class Break:
    """The first event of a chain that fails a check."""

    event_id: int
    created_at: datetime
    chain: str
    check: str

    def __str__(self) -> str:
        return f"event {self.event_id} ({self.created_at.isoformat()}, chain {self.chain}): {self.check}"


def _events(chains: list[str] | None) -> Iterator[AuditEvent]:
    """Every event (of `chains`, if given) in id order, in batches: constant memory for any log size."""
    after = 0
    while True:
        qs = AuditEvent.objects.filter(id__gt=after).order_by("id")
        if chains is not None:
            qs = qs.filter(chain__in=chains)
        batch = list(qs[:_VERIFY_BATCH])
        yield from batch
        if len(batch) < _VERIFY_BATCH:
            return
        after = batch[-1].id


def _anchors() -> dict[str, str]:
    """Where chains whose oldest events expired start (see "Expired events" above)."""
    from agentops.retention.audit_expiry import anchors  # the app that expires events keeps them

    return anchors()


def verify(project: Project | None = None) -> Break | None:
    """The first event, in id order, that breaks its chain, or None when every chain checked holds.

    With `project`, only that project's chain is checked (the legacy chain spans every project and is
    checked by a full run). A deleted event shows as the next one of its chain failing the link check.
    """
    heads = _anchors()
    for event in _events([chain_of(project=project, organization=None)] if project else None):
        prev = heads.get(event.chain, GENESIS)
        if event.prev_hash != prev:
            check = "prev_hash does not match the hash of the chain's previous event (an event is missing or altered)"
            return Break(event.id, event.created_at, event.chain, check)
        if event.hash != _digest(prev, _body(event)):
            return Break(event.id, event.created_at, event.chain, "hash does not match the event's content")
        heads[event.chain] = event.hash
    return None


def verify_chain() -> int | None:
    """The id of the first event whose hash does not match its content or predecessor, else None."""
    broken = verify()
    return broken.event_id if broken else None
