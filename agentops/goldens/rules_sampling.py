"""The sampling pass: every enabled rule advanced past the runs that finished or changed since its cursor.

`rules_advance` (Celery beat, agentops.goldens.tasks) takes each enabled rule in turn and reads its
project's finished runs (`root_ended`) that match its filter, in (updated_at, id) order after the rule's
cursor, BATCH at a time and at most MAX_BATCHES per pass; each batch is one transaction that queues the
sampled runs (agentops.goldens.rules.sampled) and moves the cursor to the last run read. A pass that
stops at MAX_BATCHES leaves the rest to the next one: a rule with a backlog cannot hold the others up
for long.

Runs younger than SETTLE are left for a later pass: ingest stamps `updated_at` with its transaction's
start (now()), so a run stamped just before a pass may commit just after it, and a cursor that had
passed its stamp would never see it. A run that changes after the cursor passed it (a late span) is
read again: sampled the same way, and queued once (unique (rule, trace_id)).

An auto-accepting rule adds each newly sampled run to its set as a case (agentops.goldens.services.
case_add, with no person: audited as the system, named after the task) and records the item accepted.
A run that cannot become a case (no stored input, content not kept) is queued pending with the reason,
for a person to give the input.

Two passes at once (a slow one overlapping the next) do not collide: each batch locks its rule with SKIP
LOCKED, so the second skips a rule the first is working on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agentops.goldens.models import ReviewItem, SamplingRule
from agentops.goldens.rules import parse_rule_filter, sampled
from agentops.goldens.services import case_add
from agentops.goldens.validation import GoldenError
from traces.filters import FilterError
from traces.models import Run

log = logging.getLogger(__name__)

BATCH = 500
MAX_BATCHES = 20
SETTLE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class AdvanceResult:
    rules: int
    runs: int
    queued: int
    accepted: int


def _runs_after(rule: SamplingRule, until: datetime, batch: int) -> list[tuple[int, Any, datetime]]:
    filters = parse_rule_filter(rule.filter)  # checked when saved; payloads: the rule's Engineer could
    runs = Run.objects.filter(project_id=rule.project_id, root_ended=True)
    runs = filters.apply(runs).filter(
        Q(updated_at__gt=rule.cursor_at) | Q(updated_at=rule.cursor_at, id__gt=rule.cursor_id),
        updated_at__lte=until,
    )
    return list(runs.order_by("updated_at", "id").values_list("id", "trace_id", "updated_at")[:batch])


def _auto_accept(rule: SamplingRule, trace_ids: list[Any]) -> tuple[list[ReviewItem], int]:
    items, accepted = [], 0
    for trace_id in trace_ids:
        item = ReviewItem(rule=rule, project_id=rule.project_id, trace_id=trace_id)
        try:
            with transaction.atomic():
                case = case_add(
                    golden_set=rule.golden_set, user=None, data={"source_trace_id": trace_id.hex}, payloads=True
                )
        except GoldenError as exc:
            item.note = f"not added automatically: {exc.field}: {exc.message}"[:500]
        else:
            item.state, item.case, item.decided_at = ReviewItem.State.ACCEPTED, case, timezone.now()
            accepted += 1
        items.append(item)
    return items, accepted


def _batch(rule_id: int, until: datetime, batch: int) -> tuple[int, int, int] | None:
    """One batch of one rule: (runs read, items queued, cases added); None when there is nothing left,
    or the rule is gone, disabled or being advanced by another pass."""
    with transaction.atomic():
        rule = (
            SamplingRule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("golden_set")
            .filter(pk=rule_id, enabled=True)
            .first()
        )
        if rule is None:
            return None
        try:
            rows = _runs_after(rule, until, batch)
        except FilterError as exc:  # saved before a check it now fails: the rule waits for an edit
            log.warning("goldens.rule_filter_refused", extra={"rule": rule.pk, "error": str(exc)})
            return None
        if not rows:
            return None
        picked = [trace_id for _, trace_id, _ in rows if sampled(trace_id, rule.sample_rate)]
        known = set(ReviewItem.objects.filter(rule=rule, trace_id__in=picked).values_list("trace_id", flat=True))
        new = [t for t in picked if t not in known]
        if rule.auto_accept:
            items, accepted = _auto_accept(rule, new)
        else:
            items, accepted = [ReviewItem(rule=rule, project_id=rule.project_id, trace_id=t) for t in new], 0
        ReviewItem.objects.bulk_create(items, ignore_conflicts=True)
        last_id, _, last_at = rows[-1]
        rule.cursor_at, rule.cursor_id = last_at, last_id
        rule.save(update_fields=["cursor_at", "cursor_id"])
        return len(rows), len(items), accepted


def rules_advance(*, now: datetime | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> AdvanceResult:
    """Advance every enabled rule (see the module docstring); what was read, queued and added."""
    until = (now or timezone.now()) - SETTLE
    rule_ids = list(SamplingRule.objects.filter(enabled=True).order_by("id").values_list("id", flat=True))
    runs = queued = accepted = 0
    for rule_id in rule_ids:
        for _ in range(max_batches):
            done = _batch(rule_id, until, batch)
            if done is None:
                break
            runs, queued, accepted = runs + done[0], queued + done[1], accepted + done[2]
            if done[0] < batch:
                break
    log.info(
        "goldens.rules_advanced",
        extra={
            "event": "goldens.rules_advanced",
            "rules": len(rule_ids),
            "runs": runs,
            "queued": queued,
            "accepted": accepted,
        },
    )
    return AdvanceResult(rules=len(rule_ids), runs=runs, queued=queued, accepted=accepted)
