"""The review queue's decisions: accept an item into its rule's set, or discard it. Each is audited.

Accepting adds one case (agentops.goldens.services.case_add: one new version of the set) from the item's
run, its input taken from the run as the project's redaction rules say, with what the reviewer gives:
`expected_output`, `assertions`, `tags`, `notes` (each optional, checked as for any case), and `input`
when the run has none stored. The case is added and reviewed by the reviewer. An item is decided once:
a second decision is a GoldenConflict on `state`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agentops.goldens.models import GoldenCase, ReviewItem
from agentops.goldens.services import case_add
from agentops.goldens.validation import CASE_FIELDS, GoldenConflict, GoldenError
from agentops.tenancy.audit import audit_record

ACCEPT_FIELDS = CASE_FIELDS


def _locked_pending(item: ReviewItem) -> ReviewItem:
    item = ReviewItem.objects.select_for_update().select_related("rule__golden_set", "project").get(pk=item.pk)
    if item.state != ReviewItem.State.PENDING:
        raise GoldenConflict("state", f"this item was {item.state} already")
    return item


def _audit(item: ReviewItem, user: Any, action: str, after: dict[str, Any]) -> None:
    audit_record(
        actor=user,
        action=action,
        target_type="golden_review",
        target_id=item.pk,
        target_label=f"{item.rule.name}: {item.trace_id.hex}",
        after=after,
        project=item.project,
    )


@transaction.atomic
def review_accept(*, item: ReviewItem, user: Any, data: Any, payloads: bool) -> GoldenCase:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GoldenError("detail", "send a JSON object")
    for key in data:
        if key not in ACCEPT_FIELDS:
            raise GoldenError(str(key)[:60], f"unknown field; allowed: {', '.join(sorted(ACCEPT_FIELDS))}")
    item = _locked_pending(item)
    case = case_add(
        golden_set=item.rule.golden_set,
        user=user,
        data={**data, "source_trace_id": item.trace_id.hex},
        payloads=payloads,
    )
    item.state, item.case = ReviewItem.State.ACCEPTED, case
    item.decided_by, item.decided_at = user, timezone.now()
    item.save(update_fields=["state", "case", "decided_by", "decided_at"])
    golden_set = item.rule.golden_set
    _audit(
        item,
        user,
        "golden_review.accept",
        {"set": golden_set.name, "version": case.added_in, "case_key": case.case_key},
    )
    return case


@transaction.atomic
def review_discard(*, item: ReviewItem, user: Any) -> ReviewItem:
    item = _locked_pending(item)
    item.state = ReviewItem.State.DISCARDED
    item.decided_by, item.decided_at = user, timezone.now()
    item.save(update_fields=["state", "decided_by", "decided_at"])
    _audit(item, user, "golden_review.discard", {"state": item.state})
    return item
