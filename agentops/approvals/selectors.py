"""Reads of approvals, each scoped: to a project (reviewers) or to the caller that created the request
(agents: an ingest key reads only the requests it created, a person only their own).

The inbox reads the decidable requests of one project or of the projects the tenancy chokepoint gave
(one query either way), and a request's page reads the run behind it through traces' selectors, in the
request's own project only: another tenant's run with the same trace id is never found."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.tenancy.models import IngestKey, Project, User
from traces import replay
from traces.ingest.steps import StepKind
from traces.models import Run, Step
from traces.presenters import step_dict, step_tree
from traces.selectors import replay as replay_selectors
from traces.selectors.runs import project_run, run_steps

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


# --- The reviewer's inbox ------------------------------------------------------------------------


def _pending(qs: QuerySet[ApprovalRequest], *, newest: bool, limit: int) -> list[ApprovalRequest]:
    # An overdue request can no longer be decided (services._pending); the expiry job ends it soon.
    qs = qs.filter(state=ApprovalRequest.State.PENDING, expires_at__gt=timezone.now())
    order = ["-created_at", "-id"] if newest else ["expires_at", "id"]
    return list(_with_decisions(qs.order_by(*order))[:limit])


def pending_of_project(project: Project, *, newest: bool = False, limit: int = LIST_LIMIT) -> list[ApprovalRequest]:
    """The project's decidable requests: the soonest expiry (the most urgent) first, or the newest."""
    return _pending(ApprovalRequest.objects.filter(project=project), newest=newest, limit=limit)


def pending_in_projects(
    projects: QuerySet[Project], *, newest: bool = False, limit: int = LIST_LIMIT
) -> list[ApprovalRequest]:
    """The same across `projects` (a queryset from the tenancy chokepoint), in one query whatever their
    number: the projects are a subquery, not a loop."""
    qs = ApprovalRequest.objects.filter(project__in=projects.values("pk"))
    return _pending(qs, newest=newest, limit=limit)


def pending_ids(project: Project, *, newest: bool = False, limit: int = LIST_LIMIT) -> list[int]:
    """The ids of pending_of_project, in its order: a request's page steps to its neighbours (j/k)."""
    qs = ApprovalRequest.objects.filter(
        project=project, state=ApprovalRequest.State.PENDING, expires_at__gt=timezone.now()
    )
    order = ["-created_at", "-id"] if newest else ["expires_at", "id"]
    return list(qs.order_by(*order).values_list("pk", flat=True)[:limit])


# --- The run behind a request (read through traces' selectors) ----------------------------------------

# How many of the conversation's messages a request's page shows inline (the replay has the rest).
CONTEXT_MESSAGES = 6


def approval_run(project: Project, approval: ApprovalRequest) -> Run | None:
    """The run the request was asked from; None without a trace_id or while its spans have not arrived."""
    if not approval.trace_id:
        return None
    return project_run(project, uuid.UUID(hex=approval.trace_id))


def replay_order(project: Project, run: Run) -> list[str]:
    """The run's span ids (hex) in the replay player's order (traces.replay.tree_order): the position of
    a span there is what the replay page's ?step= takes."""
    steps = [step_dict(s, payloads=False) for s in replay_selectors.replay_steps(project, run)]
    return [step["span_id"] for step, _ in replay.tree_order(step_tree(steps))]


def last_llm_step(project: Project, run: Run, before: datetime) -> Step | None:
    """The run's latest LLM step that began before `before` (the request's time), with its payloads:
    for payload viewers only. Bounded below by the run's start, so Postgres reads only its partitions."""
    steps = run_steps(project, run.trace_id, payloads=True).filter(
        kind=StepKind.LLM, start_time__gte=run.start_time, start_time__lte=before
    )
    return steps.order_by("-start_time", "-span_id").first()
