"""Expiry of audit events past AUDIT_RETENTION_DAYS, keeping every chain verifiable.

A chain (agentops.tenancy.audit) links each event to the hash of the one before. Its oldest events are
deleted as a prefix, in id order, in batches; in the same transaction as each batch, the chain's
AuditAnchor records the id and hash of the last event deleted. `verify` starts the chain from that hash
instead of the genesis hash, so the first kept event still links, and tampering with any kept event still
breaks the chain. Deleting more of the chain's head without moving the anchor shows as a break.

A prefix, not every old event: were an event's created_at out of order with its id (a clock step back),
deleting by time alone would cut a hole in the chain. Each chain loses the events up to the last one,
in id order, created before the cutoff.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from agentops.retention.models import AuditAnchor
from agentops.tenancy.audit import _CHAIN_LOCK
from agentops.tenancy.models import AuditEvent

BATCH = 5000


def audit_expire(*, now: datetime, days: int | None = None) -> int:
    """Delete the audit events older than `days` (default AUDIT_RETENTION_DAYS; None keeps them for
    ever); returns how many went."""
    days = settings.AUDIT_RETENTION_DAYS if days is None else days
    if days is None:
        return 0
    before = now - timedelta(days=days)
    deleted = 0
    ends = AuditEvent.objects.filter(created_at__lt=before).values("chain").annotate(last=Max("id"))
    for row in ends:
        deleted += _expire_chain(row["chain"], row["last"])
    return deleted


def _expire_chain(chain: str, last: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            # The chain's lock: an append reads the newest hash; keep the anchor and the prefix in step.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_CHAIN_LOCK, chain])
            batch = list(
                AuditEvent.objects.filter(chain=chain, id__lte=last).order_by("id").values_list("id", "hash")[:BATCH]
            )
            if not batch:
                return deleted
            top_id, top_hash = batch[-1]
            AuditEvent.objects.filter(chain=chain, id__lte=top_id).delete()
            anchor = AuditAnchor.objects.select_for_update().filter(chain=chain).first()
            if anchor is None:
                AuditAnchor.objects.create(
                    chain=chain, last_deleted_id=top_id, last_deleted_hash=top_hash, deleted=len(batch)
                )
            else:
                anchor.last_deleted_id, anchor.last_deleted_hash = top_id, top_hash
                anchor.deleted += len(batch)
                anchor.save()
        deleted += len(batch)
        if len(batch) < BATCH:
            return deleted


def anchors() -> dict[str, str]:
    """Each anchored chain's starting hash, for agentops.tenancy.audit.verify."""
    return dict(AuditAnchor.objects.values_list("chain", "last_deleted_hash"))
