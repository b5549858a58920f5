"""agentops.approvals.services: validation naming the field, idempotency, quorum, self-approval,
finality, cancel, expiry and escalation, audit events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agentops.approvals import services
from agentops.approvals.models import ApprovalPolicy, ApprovalRequest
from agentops.approvals.services import ApprovalConflict, ApprovalForbidden, ApprovalInvalid, ApprovalNotFound
from agentops.notify.models import OutboxMessage
from agentops.notify.services import channel_create
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.roles import Role
from agentops.tenancy.services import ingest_key_create
from tests.factories import make_member

pytestmark = pytest.mark.django_db

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def _ask(project, key=None, user=None, **fields):
    data = {"action": "refund", "arguments": {"order": 7, "amount": 30}, **fields}
    if key is None and user is None:
        key = ingest_key_create(project=project).key
    return services.approval_request_create(project=project, data=data, key=key, user=user)


def test_create_stores_every_field_and_audits_it(personas):
    key = ingest_key_create(project=personas.project).key
    approval, created = _ask(
        personas.project,
        key=key,
        summary="Refund order 7",
        risk="high",
        trace_id=TRACE.upper(),
        span_id=SPAN,
        idempotency_key="k1",
        expires_in=600,
        on_timeout="escalate",
        required_approvals=2,
        callback_url="https://agent.example.com/cb",
    )
    assert created and approval.state == "pending"
    assert approval.trace_id == TRACE and approval.span_id == SPAN and approval.risk == "high"
    assert approval.created_by_key == key and approval.created_by_user is None
    assert timedelta(seconds=590) < approval.expires_at - timezone.now() <= timedelta(seconds=600)
    event = AuditEvent.objects.get(action="approval.request", target_id=str(approval.pk))
    assert event.after is not None
    assert event.after["arguments_sha256"] == services.arguments_hash({"order": 7, "amount": 30})
    assert (event.actor_kind, event.actor_label) == ("ingest_key", f"ingest key {key.prefix}… ({key.name})")
    assert event.actor is None and event.project == personas.project


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"arguments": [1, 2]}, "arguments"),
        ({"arguments": "{}"}, "arguments"),
        ({"action": ""}, "action"),
        ({"action": "rm -rf"}, "action"),
        ({"expires_in": 5}, "expires_in"),
        ({"expires_in": 31 * 86400}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"risk": "extreme"}, "risk"),
        ({"trace_id": "xyz"}, "trace_id"),
        ({"trace_id": "0" * 32}, "trace_id"),
        ({"trace_id": TRACE, "span_id": "12345"}, "span_id"),
        ({"span_id": SPAN}, "span_id"),
        ({"callback_url": "ftp://example.com/x"}, "callback_url"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"on_timeout": "approve"}, "on_timeout"),
        ({"required_approvals": 0}, "required_approvals"),
        ({"summary": "x" * 501}, "summary"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(personas, fields, field):
    with pytest.raises(ApprovalInvalid) as caught:
        _ask(personas.project, **fields)
    assert caught.value.field == field
    assert not ApprovalRequest.objects.exists()


def test_missing_arguments_is_refused(personas):
    key = ingest_key_create(project=personas.project).key
    with pytest.raises(ApprovalInvalid, match="arguments"):
        services.approval_request_create(project=personas.project, data={"action": "refund"}, key=key)


def test_expiry_defaults_to_the_projects_policy(personas):
    assert _ask(personas.project)[0].expires_at - timezone.now() > timedelta(seconds=3500)
    ApprovalPolicy.objects.create(project=personas.project, default_expires_in=120)
    assert _ask(personas.project)[0].expires_at - timezone.now() <= timedelta(seconds=120)


def test_a_retry_with_the_idempotency_key_returns_the_same_request(personas):
    key = ingest_key_create(project=personas.project).key
    first, created = _ask(personas.project, key=key, idempotency_key="retry-1")
    again, created_again = _ask(personas.project, key=key, idempotency_key="retry-1")
    assert created and not created_again and again.pk == first.pk
    assert ApprovalRequest.objects.count() == 1
    # Another caller of the project does not get it handed over.
    with pytest.raises(ApprovalConflict):
        _ask(personas.project, idempotency_key="retry-1")
    # The same key in another project is another request.
    assert _ask(personas.other_project, idempotency_key="retry-1")[1]


def test_quorum_of_two_distinct_reviewers(personas):
    approval, _ = _ask(personas.project, required_approvals=2)
    after_one = services.approval_decide(
        project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
    )
    assert after_one.state == "pending" and after_one.final_arguments is None
    with pytest.raises(ApprovalConflict, match="already"):
        services.approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
        )
    done = services.approval_decide(
        project=personas.project, approval_id=approval.pk, reviewer=personas.admin, decision="approve"
    )
    assert done.state == "approved" and done.decided_at is not None
    assert done.final_arguments == {"order": 7, "amount": 30}


def test_one_reject_rejects_and_needs_a_reason(personas):
    approval, _ = _ask(personas.project, required_approvals=2)
    services.approval_decide(
        project=personas.project, approval_id=approval.pk, reviewer=personas.admin, decision="approve"
    )
    with pytest.raises(ApprovalInvalid) as caught:
        services.approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="reject"
        )
    assert caught.value.field == "comment"
    done = services.approval_decide(
        project=personas.project,
        approval_id=approval.pk,
        reviewer=personas.reviewer,
        decision="reject",
        comment="too much",
    )
    assert done.state == "rejected" and done.final_arguments is None


def test_a_decision_is_final(personas):
    approval, _ = _ask(personas.project)
    services.approval_decide(
        project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
    )
    with pytest.raises(ApprovalConflict, match="approved"):
        services.approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.admin, decision="reject", comment="no"
        )
    approval.refresh_from_db()
    assert approval.state == "approved" and approval.decisions.count() == 1


def test_nobody_decides_a_request_they_created(personas):
    approval, _ = _ask(personas.project, user=personas.reviewer)
    with pytest.raises(ApprovalForbidden):
        services.approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
        )
    assert not approval.decisions.exists()


def test_an_edit_is_recorded_beside_the_original(personas):
    approval, _ = _ask(personas.project)
    done = services.approval_decide(
        project=personas.project,
        approval_id=approval.pk,
        reviewer=personas.reviewer,
        decision="approve",
        comment="half",
        arguments={"order": 7, "amount": 15},
    )
    done.refresh_from_db()
    assert done.arguments == {"order": 7, "amount": 30}
    assert done.final_arguments == {"order": 7, "amount": 15}
    assert done.decisions.get().arguments == {"order": 7, "amount": 15}
    event = AuditEvent.objects.get(action="approval.decide")
    assert event.after is not None
    assert event.after["edited_arguments_sha256"] == services.arguments_hash({"order": 7, "amount": 15})
    assert event.actor == personas.reviewer


def test_a_reject_cannot_edit_and_arguments_must_be_an_object(personas):
    approval, _ = _ask(personas.project)
    for decision, arguments in (("reject", {"a": 1}), ("approve", [1])):
        with pytest.raises(ApprovalInvalid) as caught:
            services.approval_decide(
                project=personas.project,
                approval_id=approval.pk,
                reviewer=personas.reviewer,
                decision=decision,
                comment="x",
                arguments=arguments,
            )
        assert caught.value.field == "arguments"
    with pytest.raises(ApprovalInvalid, match="decision"):
        services.approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="yes"
        )


def test_another_projects_request_is_not_found(personas):
    approval, _ = _ask(personas.other_project)
    with pytest.raises(ApprovalNotFound):
        services.approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.admin, decision="approve"
        )


def test_an_expired_request_cannot_be_decided(personas):
    approval, _ = _ask(personas.project)
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApprovalConflict, match="expired"):
        services.approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
        )


def test_cancel_by_its_creator_only_while_pending(personas):
    key = ingest_key_create(project=personas.project).key
    other_key = ingest_key_create(project=personas.project).key
    approval, _ = _ask(personas.project, key=key)
    with pytest.raises(ApprovalNotFound):
        services.approval_cancel(project=personas.project, approval_id=approval.pk, key=other_key)
    with pytest.raises(ApprovalNotFound):
        services.approval_cancel(project=personas.project, approval_id=approval.pk, user=personas.admin)
    done = services.approval_cancel(project=personas.project, approval_id=approval.pk, key=key)
    assert done.state == "cancelled"
    with pytest.raises(ApprovalConflict):
        services.approval_cancel(project=personas.project, approval_id=approval.pk, key=key)
    assert AuditEvent.objects.filter(action="approval.cancel", target_id=str(approval.pk)).count() == 1


def test_expire_rejects_and_escalates_once(personas):
    channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/x")
    rejecting, _ = _ask(personas.project, expires_in=60)
    escalating, _ = _ask(personas.project, expires_in=60, on_timeout="escalate")
    fresh, _ = _ask(personas.project, expires_in=3600)
    later = timezone.now() + timedelta(seconds=61)
    assert services.approvals_expire(later) == {"expired": 1, "escalated": 1}
    rejecting.refresh_from_db()
    escalating.refresh_from_db()
    fresh.refresh_from_db()
    assert rejecting.state == "expired" and fresh.state == "pending"
    assert escalating.state == "pending" and escalating.escalated_at == later
    assert escalating.expires_at > later
    assert OutboxMessage.objects.filter(event="approval.escalated").count() == 1
    assert services.approvals_expire(later) == {"expired": 0, "escalated": 0}
    assert services.approvals_expire(escalating.expires_at) == {"expired": 1, "escalated": 0}
    escalating.refresh_from_db()
    assert escalating.state == "expired"
    by_job = AuditEvent.objects.filter(action__in=["approval.expire", "approval.escalate"])
    assert {e.action for e in by_job} == {"approval.expire", "approval.escalate"}
    assert {(e.actor_kind, e.actor_label) for e in by_job} == {("system", "system (approvals expiry)")}


def test_a_member_who_created_a_request_is_its_creator(personas):
    engineer = make_member(personas.project, Role.ENGINEER)
    approval, _ = _ask(personas.project, user=engineer)
    assert approval.created_by_user == engineer and approval.created_by_key is None
