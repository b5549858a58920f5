"""Reads of approvals, each scoped: to a project (reviewers) or to the caller that created the request
(agents: an ingest key reads only the requests it created, a person only their own)."""

from __future__ import annotations

import time

from django.db.models import Prefetch, QuerySet

from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.tenancy.models import IngestKey, Project, User

LIST_LIMIT = 200


def _with_decisions(qs: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    decisions = ApprovalDecision.objects.select_related("reviewer").order_by("at", "id")
    return qs.select_related("project", "created_by_key", "created_by_user").prefetch_related(
        Prefetch("decisions", queryset=decisions)
    )


def approval_of_key(key: IngestKey, approval_id: int) -> ApprovalRequest | None:
    qs = ApprovalRequest.objects.filter(project_id=key.project_id, created_by_key=key, pk=approval_id)
    return _with_decisions(qs).first()


def approval_of_user(user: User, approval_id: int) -> ApprovalRequest | None:
    """A request the user created (the caller checks they still may view its project)."""
    return _with_decisions(ApprovalRequest.objects.filter(created_by_user=user, pk=approval_id)).first()


def approval_in_project(project: Project, approval_id: int) -> ApprovalRequest | None:
    return _with_decisions(ApprovalRequest.objects.filter(project=project, pk=approval_id)).first()


def approvals_of_project(project: Project, state: str | None = None, limit: int = LIST_LIMIT) -> list[ApprovalRequest]:
    """Newest first; pending ones by the soonest expiry (the most urgent) first."""
    qs = ApprovalRequest.objects.filter(project=project)
    if state:
        qs = qs.filter(state=state)
    order = ["expires_at", "id"] if state == ApprovalRequest.State.PENDING else ["-created_at", "-id"]
    return list(_with_decisions(qs.order_by(*order))[:limit])


# How often a wait outside the front (any server but `agentops web`) re-reads the state.
POLL_SECONDS = 0.25


def approval_pending_after(approval_id: int, wait: float) -> bool:
    """Whether the request is still pending after waiting up to `wait` seconds for it not to be. Holds
    the calling thread (and its connection, between short reads) for the wait: only for servers without
    the front, which waits without either (agentops.server.park)."""
    deadline = time.monotonic() + wait
    pending = ApprovalRequest.objects.filter(pk=approval_id, state=ApprovalRequest.State.PENDING)
    while pending.exists():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(POLL_SECONDS, left))
    return False
