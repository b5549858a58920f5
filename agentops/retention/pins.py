"""The runs retention never touches (their payloads, steps and row), and an admin's own pins.

- `protected_trace_ids(project, older_than=)`: the trace ids of the project's runs kept whatever the
  policy says, among those that started before `older_than` (only those can expire): runs a golden case
  came from (agentops.goldens.selectors.pinned_trace_ids), runs a sampling rule put in the golden review
  queue and nobody has decided on yet (a reviewer about to accept one must still find its steps), runs
  with an approval request still pending, runs behind a live (open or acknowledged) alert, and runs an
  admin pinned (Pin). An alert names no run:
  it names the run list's filters that show its runs (Alert.runs_filter), and those runs are kept.
- `pin_add(project=, trace_id=, reason=, actor=)` / `pin_remove(...)`: an admin's pin, audited
  ("retention.pin" / "retention.unpin"). Pinning a pinned run, or unpinning one that is not, changes
  nothing and records nothing.

Pins do not protect against an erasure (agentops.retention.erasure): an end user's right to have their
data deleted outranks a wish to keep a run.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.http import QueryDict

from agentops.alerts.models import Alert
from agentops.approvals.models import ApprovalRequest
from agentops.goldens.rule_models import ReviewItem
from agentops.goldens.selectors import pinned_trace_ids
from agentops.retention.errors import RetentionError
from agentops.retention.models import Pin
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project
from traces.filters import FilterError, parse_filters
from traces.ids import trace_from_hex
from traces.models import Run

log = logging.getLogger(__name__)


def _alerted(project: Project, older_than: datetime) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    old_runs = Run.objects.filter(project=project, start_time__lt=older_than)
    for alert in Alert.objects.filter(project=project, state__in=Alert.LIVE_STATES).only("id", "runs_filter"):
        try:
            filters = parse_filters(QueryDict(urlencode(alert.runs_filter)), payloads=True)
        except FilterError as exc:
            # An alert whose filter no longer parses keeps nothing: say so rather than fail the job.
            log.warning(
                "alert filter unreadable",
                extra={"event": "retention.alert_filter", "alert": alert.pk, "error": str(exc)},
            )
            continue
        found.update(filters.apply(old_runs).order_by().values_list("trace_id", flat=True))
    return found


def _pending_approvals(project: Project) -> set[uuid.UUID]:
    found = set()
    rows = ApprovalRequest.objects.filter(project=project, state=ApprovalRequest.State.PENDING).exclude(trace_id="")
    for text in rows.values_list("trace_id", flat=True).distinct():
        try:
            found.add(trace_from_hex(text))
        except ValueError:
            continue  # not a trace id: names no run
    return found


def protected_trace_ids(project: Project, *, older_than: datetime) -> set[uuid.UUID]:
    kept: set[uuid.UUID] = {t for t in pinned_trace_ids(project) if t is not None}
    kept |= set(Pin.objects.filter(project=project).values_list("trace_id", flat=True))
    kept |= _pending_approvals(project)
    kept |= set(
        ReviewItem.objects.filter(project=project, state=ReviewItem.State.PENDING).values_list("trace_id", flat=True)
    )
    kept |= _alerted(project, older_than)
    return kept


def parse_trace_id(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise RetentionError("trace_id", "must be the run's trace id, 32 hex characters")
    try:
        return trace_from_hex(value)
    except ValueError:
        raise RetentionError("trace_id", "must be the run's trace id, 32 hex characters") from None


def is_pinned(project: Project, trace_id: uuid.UUID) -> bool:
    return Pin.objects.filter(project=project, trace_id=trace_id).exists()


@transaction.atomic
def pin_add(*, project: Project, trace_id: uuid.UUID, reason: str, actor: Any) -> Pin:
    """Pin a run of the project (RetentionError "trace_id" when it has no such run)."""
    if not isinstance(reason, str) or len(reason) > 500:
        raise RetentionError("reason", "must be text of at most 500 characters")
    if not Run.objects.filter(project=project, trace_id=trace_id).exists():
        raise RetentionError("trace_id", "is no run of this project")
    existing = Pin.objects.filter(project=project, trace_id=trace_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            pin = Pin.objects.create(project=project, trace_id=trace_id, reason=reason, pinned_by=_user(actor))
    except IntegrityError:  # pinned at the same moment by another admin: theirs stands
        return Pin.objects.get(project=project, trace_id=trace_id)
    _audit(project, actor, "retention.pin", trace_id, before=None, after={"reason": reason})
    return pin


@transaction.atomic
def pin_remove(*, project: Project, trace_id: uuid.UUID, actor: Any) -> bool:
    """Unpin a run; False when it was not pinned."""
    pin = Pin.objects.select_for_update().filter(project=project, trace_id=trace_id).first()
    if pin is None:
        return False
    pin.delete()
    _audit(project, actor, "retention.unpin", trace_id, before={"reason": pin.reason}, after=None)
    return True


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _audit(project: Project, actor: Any, action: str, trace_id: uuid.UUID, **change: Any) -> None:
    audit_record(
        actor=actor,
        action=action,
        target_type="run",
        target_id=trace_id.hex,
        target_label=f"run {trace_id.hex}",
        project=project,
        **change,
    )
