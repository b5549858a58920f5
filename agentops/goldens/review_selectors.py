"""Reads of sampling rules and the review queue, scoped to a project the caller resolved through the
tenancy chokepoint. A page of the queue costs a constant number of queries: the items, then their runs
in one query (`runs_by_trace`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from agentops.goldens.models import ReviewItem, SamplingRule
from agentops.goldens.sources import source_of
from agentops.goldens.validation import GoldenError
from agentops.tenancy.models import Project
from traces import selectors as trace_selectors
from traces.ingest.redact import redact_value
from traces.ingest.steps import StepKind
from traces.models import Run

STATES = tuple(ReviewItem.State.values)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def project_rules(project: Project) -> QuerySet[SamplingRule]:
    """The project's rules with `pending`, their number of items waiting for a person."""
    waiting = Q(review_items__state=ReviewItem.State.PENDING)
    rules = SamplingRule.objects.filter(project=project).select_related("golden_set", "created_by")
    return rules.annotate(pending=Count("review_items", filter=waiting))


def project_rule(project: Project, rule_id: int) -> SamplingRule | None:
    return project_rules(project).filter(pk=rule_id).first()


@dataclass(frozen=True)
class QueueFilters:
    state: str | None = ReviewItem.State.PENDING  # None: every state
    rule: int | None = None
    after: int = 0
    limit: int = DEFAULT_LIMIT


def _number(raw: str, field: str, top: int) -> int:
    if not raw.isdigit() or not 0 <= int(raw) <= top:
        raise GoldenError(field, f"give a whole number from 0 to {top}")
    return int(raw)


def parse_queue_filters(params: Any) -> QueueFilters:
    """`state` (pending by default; `all`), `rule` (a rule's id), `cursor` and `limit` from a query."""
    state = params.get("state") or ReviewItem.State.PENDING
    if state not in (*STATES, "all"):
        raise GoldenError("state", f"give one of {', '.join(STATES)} or all")
    rule = params.get("rule") or ""
    limit = params.get("limit") or ""
    return QueueFilters(
        state=None if state == "all" else state,
        rule=_number(rule, "rule", 2**62) if rule else None,
        after=_number(params.get("cursor") or "0", "cursor", 2**62),
        limit=max(1, _number(limit, "limit", MAX_LIMIT)) if limit else DEFAULT_LIMIT,
    )


def queue_page(project: Project, filters: QueueFilters) -> tuple[list[ReviewItem], int | None]:
    """A page of the queue, oldest first (the order the runs were sampled), and the next page's cursor."""
    items = ReviewItem.objects.filter(project=project, id__gt=filters.after)
    if filters.state:
        items = items.filter(state=filters.state)
    if filters.rule is not None:
        items = items.filter(rule_id=filters.rule)
    related = items.select_related("rule__golden_set", "decided_by", "case").order_by("id")
    found = list(related[: filters.limit + 1])
    more = len(found) > filters.limit
    found = found[: filters.limit]
    return found, (found[-1].pk if more and found else None)


def queue_counts(project: Project) -> dict[str, int]:
    rows = ReviewItem.objects.filter(project=project).values_list("state").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(STATES, 0)
    counts.update({state: n for state, n in rows})
    return counts


def project_item(project: Project, item_id: int) -> ReviewItem | None:
    items = ReviewItem.objects.filter(project=project, pk=item_id)
    return items.select_related("rule__golden_set", "decided_by", "case", "project").first()


def runs_by_trace(project: Project, trace_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Run]:
    """The stored runs of these trace ids (a run retention deleted is absent), in one query."""
    ids = list(trace_ids)
    if not ids:
        return {}
    return {run.trace_id: run for run in Run.objects.filter(project=project, trace_id__in=ids)}


def run_output(project: Project, run: Run) -> Any:
    """What the run answered, to offer as the expected output: its root step's output, else its last
    LLM step's, redacted by the project's rules of now as a case's input is (agentops.goldens.sources);
    None when there is none. Read only for a caller with the payload permission."""
    policy = trace_selectors.load_ingest_config(project.pk).redaction
    if policy.drop_content:
        return None
    value = None
    if run.root_span_id is not None:
        root = trace_selectors.run_step(project, run.trace_id, run.root_span_id, payloads=True)
        value = root.output if root is not None else None
    if value is None:
        steps = trace_selectors.run_steps(project, run.trace_id, payloads=True)
        last = steps.filter(kind=StepKind.LLM, output__isnull=False).order_by("-start_time", "-span_id").first()
        value = last.output if last else None
    return redact_value(value, policy) if value is not None else None


def run_input(project: Project, run: Run) -> Any:
    """The input the case would take (see agentops.goldens.sources); None when it has none to take."""
    try:
        return source_of(project, run.trace_id, None, want_input=True, payloads=True).input
    except GoldenError:
        return None
