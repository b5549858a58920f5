"""Reads for the replay, step panel, compare and export pages.

A run's steps are read with their start time bounded by the run's own (the run starts at its earliest
step and ends at its latest step's end or start, see traces.ingest.store): Postgres then reads only the
month partitions and the index range the run covers, not every partition of the project.

Log records (POST /v1/logs) are stored apart from their steps and attached here, when read: a record
may arrive before its span or after it. Their body and attributes are payload.

The replay page reads steps without any payload column: a run of thousands of steps must load fast, and
its payloads are fetched one step at a time by the step panel.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch, QuerySet

from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.tenancy.models import Project
from traces.models import LogRecord, Run, Step, StepKind
from traces.selectors.runs import PAYLOAD_FIELDS

# Not read for the tree and waterfall: payloads, and the tags/metadata context no page shows there.
_HEAVY_FIELDS = (*PAYLOAD_FIELDS, "context")


def _run_steps(project: Project, run: Run) -> QuerySet[Step]:
    steps = Step.objects.filter(project=project, trace_id=run.trace_id, start_time__gte=run.start_time)
    if run.end_time is not None:
        steps = steps.filter(start_time__lte=run.end_time)
    return steps.order_by("start_time", "span_id")


def replay_steps(project: Project, run: Run) -> list[Step]:
    """Every step of the run in start order, without payloads: enough for the tree and the waterfall."""
    return list(_run_steps(project, run).defer(*_HEAVY_FIELDS))


# What the tree and the waterfall show of an approval request (traces.approval_steps); its arguments are
# payload, read by its panel only.
_APPROVAL_STEP_FIELDS = [
    *("id", "project_id", "trace_id", "span_id"),
    *("action", "state", "risk", "created_at", "decided_at"),
]


def run_approvals(project: Project, trace_id: uuid.UUID, *, full: bool = False) -> list[ApprovalRequest]:
    """The approval requests of one run, oldest first: one query on the (project, trace_id) index.
    The project's only: another tenant's agent may send the same trace id. With `full`, every column,
    the creator and the decisions with their reviewers (one query more), as approvals' presenters read."""
    requests = ApprovalRequest.objects.filter(project=project, trace_id=trace_id.hex).order_by("created_at", "id")
    if not full:
        return list(requests.only(*_APPROVAL_STEP_FIELDS))
    decisions = ApprovalDecision.objects.select_related("reviewer").order_by("at", "id")
    requests = requests.select_related("project", "created_by_key", "created_by_user")
    return list(requests.prefetch_related(Prefetch("decisions", queryset=decisions)))


def steps_with_payloads(project: Project, run: Run, span_ids: Iterable[int], *, events: bool) -> dict[int, Step]:
    """Some steps of the run with their inputs and outputs (and attributes and events if `events`)."""
    steps = _run_steps(project, run).filter(span_id__in=list(span_ids)).defer("context")
    if not events:
        steps = steps.defer("attributes", "events")
    return {s.span_id: s for s in steps}


def export_steps(project: Project, run: Run, *, payloads: bool) -> QuerySet[Step]:
    steps = _run_steps(project, run)
    return steps if payloads else steps.defer(*PAYLOAD_FIELDS)


def compare_steps(project: Project, run: Run) -> list[Step]:
    """Every step of the run in start order, without payloads."""
    return list(_run_steps(project, run).defer(*_HEAVY_FIELDS))


def tool_payloads(project: Project, run: Run) -> dict[int, tuple[Any, Any]]:
    """(arguments, result) of the run's tool steps by span id: all that a compare reads of payloads."""
    rows = _run_steps(project, run).filter(kind=StepKind.TOOL).values_list("span_id", "input", "output")
    return {span: (args, result) for span, args, result in rows}


def recent_runs(project: Project, limit: int = 20) -> list[Run]:
    """The project's latest runs, to pick one to compare with."""
    runs = Run.objects.filter(project=project).order_by("-start_time", "-id")
    return list(runs.only("trace_id", "name", "agent", "start_time")[:limit])


# Log records' payload columns, not even read for callers who may not see them.
LOG_PAYLOAD_FIELDS = ("body", "attributes", "observed_time", "severity_number", "severity_text", "scope_name")


def step_logs(
    project: Project, trace_id: uuid.UUID, span_ids: Iterable[int] | None, *, payloads: bool
) -> dict[int, list[LogRecord]]:
    """The log records of some steps of one run (all of its records when `span_ids` is None), by span id,
    each step's in time order; one query. Without `payloads`, only each record's time and event name are
    read."""
    records = LogRecord.objects.filter(project=project, trace_id=trace_id)
    if span_ids is not None:
        records = records.filter(span_id__in=list(span_ids))
    if not payloads:
        records = records.defer(*LOG_PAYLOAD_FIELDS)
    found: dict[int, list[LogRecord]] = {}
    for record in records.order_by("span_id", "time_ns", "id"):
        found.setdefault(record.span_id, []).append(record)
    return found
