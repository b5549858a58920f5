"""Writes of approvals: create a request, decide it, cancel it, expire the overdue ones.

- `approval_request_create(project=, data=, key=|user=)` -> (request, created). `data` is the agent's
  body (FIELDS); every field is checked and a bad one raises ApprovalInvalid naming it, before anything
  is stored. With an `idempotency_key` a retry returns the same request (created False), never a second.
  A high-risk request is announced on the project's channels ("approval.requested", linking to its
  page), in the transaction that creates it: once, whatever the retries.
- `approval_decide(project=, approval_id=, reviewer=, decision=, comment=, arguments=)` -> the request.
  Only a pending, unexpired request; a reviewer decides once, never on a request they created; one
  reject rejects; `required_approvals` distinct approvals approve. An edit of the arguments is recorded
  on the decision and, when the request is approved, becomes its `final_arguments` (the latest edit wins);
  the original `arguments` never change. Raises ApprovalInvalid (400), ApprovalNotFound (404),
  ApprovalForbidden (403) or ApprovalConflict (409).
- `approval_cancel(project=, approval_id=, key=|user=)`: by its creator, while pending.
- `approvals_expire(now)`: overdue pending requests with on_timeout "reject" (or escalated already)
  become expired; "escalate" ones are extended once by their original duration, marked escalated, and
  announced on the project's channels.

Each change is an audit event (the actor is the user, or "system" for an ingest key and the expiry job,
the key's prefix in the event) with the SHA-256 of the arguments. Decisions lock the request row
(select_for_update), so concurrent reviewers record one outcome.

A request that becomes final (decided, cancelled, expired) with a `callback_url` has its decision
POSTed there, queued in the same transaction (agentops.approvals.callbacks).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from agentops.approvals import hooks
from agentops.approvals.callbacks import callback_enqueue
from agentops.approvals.models import ApprovalDecision, ApprovalPolicy, ApprovalRequest, OnTimeout, Risk
from agentops.approvals.presenters import approval_url
from agentops.approvals.wakeups import wake_waiters
from agentops.errors import FieldError
from agentops.notify.services import enqueue
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import IngestKey, Project, User

# Overdue requests handled per call of approvals_expire (see there).
EXPIRE_BATCH = 500

FIELDS = frozenset(
    {
        "action",
        "arguments",
        "summary",
        "risk",
        "trace_id",
        "span_id",
        "idempotency_key",
        "expires_in",
        "on_timeout",
        "required_approvals",
        "callback_url",
    }
)
DEFAULT_EXPIRES_IN = 3600
MIN_EXPIRES_IN = 10
MAX_EXPIRES_IN = 30 * 24 * 3600  # GitHub fails a pending deployment review after 30 days
MAX_REQUIRED_APPROVALS = 10
MAX_ARGUMENTS_BYTES = 256 * 1024
_ACTION = re.compile(r"^[A-Za-z0-9_.:/-]{1,200}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_url = URLValidator(schemes=["http", "https"])


class ApprovalError(FieldError):
    status = 400


class ApprovalInvalid(ApprovalError):
    status = 400


class ApprovalForbidden(ApprovalError):
    status = 403


class ApprovalNotFound(ApprovalError):
    status = 404


class ApprovalConflict(ApprovalError):
    status = 409


def arguments_hash(arguments: Any) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_object(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApprovalInvalid(field, "must be a JSON object")
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise ApprovalInvalid(field, "must be a JSON object") from None
    if size > MAX_ARGUMENTS_BYTES:
        raise ApprovalInvalid(field, f"must be at most {MAX_ARGUMENTS_BYTES} bytes of JSON")
    return value


def _text(data: dict[str, Any], field: str, limit: int, default: str = "") -> str:
    value = data.get(field, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ApprovalInvalid(field, "must be a string")
    if len(value) > limit:
        raise ApprovalInvalid(field, f"must be at most {limit} characters")
    return value


def _integer(data: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = data.get(field, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApprovalInvalid(field, "must be an integer")
    if not low <= value <= high:
        raise ApprovalInvalid(field, f"must be between {low} and {high}")
    return value


def _choice(data: dict[str, Any], field: str, choices: list[str], default: str) -> str:
    value = data.get(field, default)
    if value is None:
        return default
    if value not in choices:
        raise ApprovalInvalid(field, f"must be one of {', '.join(choices)}")
    return str(value)


def _hex(data: dict[str, Any], field: str, pattern: re.Pattern[str], digits: int) -> str | None:
    value = data.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not pattern.match(value.lower()) or set(value) == {"0"}:
        raise ApprovalInvalid(field, f"must be {digits} hexadecimal digits, not all zero")
    return value.lower()


def default_expires_in(project: Project) -> int:
    policy = ApprovalPolicy.objects.filter(project=project).values_list("default_expires_in", flat=True).first()
    return policy or DEFAULT_EXPIRES_IN


def _clean(project: Project, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApprovalInvalid("body", "must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ApprovalInvalid(unknown[0], "is not a field of an approval request")
    action = data.get("action")
    if not isinstance(action, str) or not _ACTION.match(action):
        raise ApprovalInvalid("action", "is required: 1 to 200 letters, digits or _ . : / -")
    if "arguments" not in data:
        raise ApprovalInvalid("arguments", "is required (a JSON object; {} for none)")
    callback_url = _text(data, "callback_url", 2000)
    if callback_url:
        try:
            _url(callback_url)
        except DjangoValidationError:
            raise ApprovalInvalid("callback_url", "must be an http or https URL") from None
    idempotency_key = _text(data, "idempotency_key", 200) or None
    span_id = _hex(data, "span_id", _HEX16, 16)
    trace_id = _hex(data, "trace_id", _HEX32, 32)
    if span_id and not trace_id:
        raise ApprovalInvalid("span_id", "needs a trace_id")
    return {
        "action": action,
        "arguments": _json_object("arguments", data["arguments"]),
        "summary": _text(data, "summary", 500),
        "risk": _choice(data, "risk", Risk.values, Risk.MEDIUM),
        "trace_id": trace_id or "",
        "span_id": span_id,
        "idempotency_key": idempotency_key,
        "expires_in": _integer(data, "expires_in", default_expires_in(project), MIN_EXPIRES_IN, MAX_EXPIRES_IN),
        "on_timeout": _choice(data, "on_timeout", OnTimeout.values, OnTimeout.REJECT),
        "required_approvals": _integer(data, "required_approvals", 1, 1, MAX_REQUIRED_APPROVALS),
        "callback_url": callback_url,
    }


def _creator(key: IngestKey | None, user: User | None) -> tuple[IngestKey | None, User | None]:
    if (key is None) == (user is None):
        raise ValueError("an approval request has one creator: an ingest key or a user")
    return key, user


def _same_creator(approval: ApprovalRequest, key: IngestKey | None, user: User | None) -> bool:
    if key is not None:
        return approval.created_by_key_id == key.pk
    return user is not None and approval.created_by_user_id == user.pk


def _label(approval: ApprovalRequest) -> str:
    return f"{approval.action} #{approval.pk}"


def _audit(
    approval: ApprovalRequest, action: str, *, user: User | None, key: IngestKey | None = None, **after: Any
) -> None:
    """The actor is the person, else the agent's ingest key, else the expiry job (the audit trail names
    each: agentops.tenancy.audit)."""
    audit_record(
        actor=user if user is not None else key,
        action=action,
        target_type="approval_request",
        target_id=approval.pk,
        target_label=_label(approval),
        after={"state": approval.state, **after},
        project=approval.project,
        system=None if user is not None or key is not None else "approvals expiry",
    )


def approval_request_create(
    *, project: Project, data: Any, key: IngestKey | None = None, user: User | None = None
) -> tuple[ApprovalRequest, bool]:
    key, user = _creator(key, user)
    fields = _clean(project, data)
    idempotency_key = fields["idempotency_key"]
    if idempotency_key:
        found = ApprovalRequest.objects.filter(project=project, idempotency_key=idempotency_key).first()
        if found is not None:
            return _retry(found, key, user), False
    expires_in = fields.pop("expires_in")
    try:
        with transaction.atomic():
            approval = ApprovalRequest.objects.create(
                project=project,
                created_by_key=key,
                created_by_user=user,
                expires_at=timezone.now() + timedelta(seconds=expires_in),
                **fields,
            )
            _audit(
                approval,
                "approval.request",
                user=user,
                key=key,
                risk=approval.risk,
                arguments_sha256=arguments_hash(approval.arguments),
                expires_at=approval.expires_at.isoformat(),
            )
            if approval.risk == Risk.HIGH:
                _announce(approval)
    except IntegrityError:
        # Two retries raced past the lookup: the unique constraint let one in; answer with it.
        found = ApprovalRequest.objects.filter(project=project, idempotency_key=idempotency_key).first()
        if idempotency_key is None or found is None:
            raise
        return _retry(found, key, user), False
    return approval, True


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _announce(approval: ApprovalRequest) -> None:
    """Tell the project's channels of a new high-risk request, in its creation's transaction. Only a
    created request gets here (an idempotent retry returns before), and the key makes a second enqueue
    of the same request a no-op anyway."""
    line = f"High-risk approval requested: {approval.action} #{approval.pk}"
    if approval.summary.strip():
        line += f" ({approval.summary})"
    enqueue(
        approval.project,
        "approval.requested",
        {
            "summary": _one_line(line),
            "url": approval_url(approval),
            "approval": {"id": approval.pk, "action": approval.action, "risk": approval.risk},
        },
        key=f"approval-requested-{approval.pk}",
    )


def _retry(found: ApprovalRequest, key: IngestKey | None, user: User | None) -> ApprovalRequest:
    if not _same_creator(found, key, user):
        # Another caller's request: do not hand it over (nor confirm what it is).
        raise ApprovalConflict("idempotency_key", "is already used by another caller in this project")
    return found


def _locked(project: Project, approval_id: int) -> ApprovalRequest:
    approval = (
        ApprovalRequest.objects.select_for_update().select_related("project").filter(project=project, pk=approval_id)
    ).first()
    if approval is None:
        raise ApprovalNotFound("id", "no such approval request")
    return approval


def _pending(approval: ApprovalRequest, now: datetime) -> None:
    if approval.state != ApprovalRequest.State.PENDING:
        raise ApprovalConflict("state", f"the request is {approval.state}; a decision is final")
    if approval.expires_at <= now:
        raise ApprovalConflict("state", "the request has expired")


@transaction.atomic
def approval_decide(
    *,
    project: Project,
    approval_id: int,
    reviewer: User,
    decision: Any,
    comment: Any = "",
    arguments: Any = None,
) -> ApprovalRequest:
    # Another project's id is 404 before any field is judged: nothing says it exists.
    approval = _locked(project, approval_id)
    if decision not in ApprovalDecision.Decision.values:
        raise ApprovalInvalid("decision", "must be approve or reject")
    if comment is None:
        comment = ""
    if not isinstance(comment, str) or len(comment) > 5000:
        raise ApprovalInvalid("comment", "must be a string of at most 5000 characters")
    if decision == ApprovalDecision.Decision.REJECT and not comment.strip():
        raise ApprovalInvalid("comment", "a rejection needs a reason")
    if arguments is not None:
        if decision != ApprovalDecision.Decision.APPROVE:
            raise ApprovalInvalid("arguments", "only an approval may edit the arguments")
        arguments = _json_object("arguments", arguments)
    now = timezone.now()
    _pending(approval, now)
    if approval.created_by_user_id == reviewer.pk:
        raise ApprovalForbidden("reviewer", "nobody decides a request they created")
    if approval.decisions.filter(reviewer=reviewer).exists():
        raise ApprovalConflict("reviewer", "you decided this request already; a decision is final")
    ApprovalDecision.objects.create(
        request=approval, reviewer=reviewer, decision=decision, comment=comment, arguments=arguments
    )
    audit_after: dict[str, Any] = {"decision": decision, "comment": comment}
    if arguments is not None:
        audit_after["edited_arguments_sha256"] = arguments_hash(arguments)
    if decision == ApprovalDecision.Decision.REJECT:
        approval.state = ApprovalRequest.State.REJECTED
    else:
        approvals = approval.decisions.filter(decision=ApprovalDecision.Decision.APPROVE)
        if approvals.count() >= approval.required_approvals:
            edit = approvals.exclude(arguments=None).order_by("-at", "-id").values_list("arguments", flat=True).first()
            approval.state = ApprovalRequest.State.APPROVED
            approval.final_arguments = edit if edit is not None else approval.arguments
    if approval.state != ApprovalRequest.State.PENDING:
        approval.decided_at = now
        approval.save(update_fields=["state", "final_arguments", "decided_at"])
        hooks.decided(approval, reviewer)  # e.g. a budget raise (agentops.budgets.raise_requests)
        wake_waiters(approval.pk)
    _audit(
        approval, "approval.decide", user=reviewer, arguments_sha256=arguments_hash(approval.arguments), **audit_after
    )
    callback_enqueue(approval)
    return approval


@transaction.atomic
def approval_cancel(
    *, project: Project, approval_id: int, key: IngestKey | None = None, user: User | None = None
) -> ApprovalRequest:
    key, user = _creator(key, user)
    approval = _locked(project, approval_id)
    if not _same_creator(approval, key, user):
        raise ApprovalNotFound("id", "no such approval request")
    if approval.state != ApprovalRequest.State.PENDING:
        raise ApprovalConflict("state", f"the request is {approval.state}; only a pending request can be cancelled")
    approval.state = ApprovalRequest.State.CANCELLED
    approval.decided_at = timezone.now()
    approval.save(update_fields=["state", "decided_at"])
    wake_waiters(approval.pk)
    _audit(approval, "approval.cancel", user=user, key=key)
    callback_enqueue(approval)
    return approval


def approvals_expire(now: datetime | None = None, *, limit: int | None = None) -> dict[str, int]:
    """Expire or escalate the overdue pending requests, the longest overdue first, at most `limit`
    (default EXPIRE_BATCH) in one transaction: a backlog left while no worker ran drains over a few calls
    without holding many row locks at once. Returns {"expired": n, "escalated": n}. Rows another worker
    holds are skipped (they are being decided, or expired by it)."""
    now = now or timezone.now()
    limit = limit or EXPIRE_BATCH
    counts = {"expired": 0, "escalated": 0}
    with transaction.atomic():
        overdue = (
            ApprovalRequest.objects.select_for_update(skip_locked=True)
            .select_related("project")
            .filter(state=ApprovalRequest.State.PENDING, expires_at__lte=now)
            .order_by("expires_at", "id")[:limit]
        )
        for approval in overdue:
            if approval.on_timeout == OnTimeout.ESCALATE and approval.escalated_at is None:
                approval.expires_at = now + (approval.expires_at - approval.created_at)
                approval.escalated_at = now
                approval.save(update_fields=["expires_at", "escalated_at"])
                _audit(approval, "approval.escalate", user=None, expires_at=approval.expires_at.isoformat())
                enqueue(
                    approval.project,
                    "approval.escalated",
                    {
                        "summary": f"Approval of {approval.action} #{approval.pk} is waiting past its expiry",
                        "url": approval_url(approval),
                        "approval": {"id": approval.pk, "action": approval.action, "risk": approval.risk},
                    },
                    key=f"approval-escalated-{approval.pk}",
                )
                counts["escalated"] += 1
            else:
                approval.state = ApprovalRequest.State.EXPIRED
                approval.decided_at = now
                approval.save(update_fields=["state", "decided_at"])
                wake_waiters(approval.pk)
                _audit(approval, "approval.expire", user=None)
                callback_enqueue(approval)
                counts["expired"] += 1
    return counts
