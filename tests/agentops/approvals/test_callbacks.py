"""Callbacks: a final request is POSTed to its callback_url through the outbox, signed with the project's
callback secret, retried after a failure, written in the decision's transaction, and kept out of sight
of the channel pages, the API and ordinary notifications."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from agentops.approvals import policy, services
from agentops.approvals.models import ApprovalPolicy
from agentops.notify import outbox
from agentops.notify.models import DISABLE_AFTER_FAILURES, Channel, OutboxMessage
from agentops.notify.services import channel_create, enqueue
from agentops.notify.signing import verify
from agentops.tenancy.roles import Role
from agentops.tenancy.services import api_token_create, ingest_key_create
from tests.agentops.notify.receiver import Receiver, receiver
from tests.factories import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings) -> None:
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def hook():
    with receiver() as r:
        yield r


def _agent(project):
    secret = ingest_key_create(project=project).secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _ask(agent, url, **fields):
    body = {"action": "refund", "arguments": {"order": 7}, "callback_url": url, **fields}
    response = agent.post("/api/v1/approvals/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _due_now() -> None:
    """Time passes: every pending retry is due (the backoff is tested in the outbox's own tests)."""
    OutboxMessage.objects.filter(state="pending").update(next_attempt_at=timezone.now())


def _signed(hook: Receiver, project) -> list[dict]:
    secret = ApprovalPolicy.objects.get(project=project).callback_secret
    assert secret.startswith("whsec_")
    for request in hook.requests:
        assert verify(secret, request.headers["X-Agentops-Signature"], request.body), request.headers
    return [json.loads(r.body) for r in hook.requests]


def test_an_approval_is_posted_as_the_agent_reads_it_signed(personas, hook):
    agent = _agent(personas.project)
    approval_id = _ask(agent, hook.url)
    services.approval_decide(
        project=personas.project,
        approval_id=approval_id,
        reviewer=personas.reviewer,
        decision="approve",
        comment="fine <b>",
        arguments={"order": 8},
    )
    assert not hook.requests  # nothing is sent from the decision itself: the outbox does it
    sweep = outbox.deliver_due(max_seconds=30)
    assert sweep.delivered == 1
    [body] = _signed(hook, personas.project)
    assert body == agent.get(f"/api/v1/approvals/{approval_id}/").json()
    assert body["state"] == "approved" and body["arguments_to_use"] == {"order": 8}
    assert body["decisions"][0]["comment"] == "fine <b>"
    [request] = hook.requests
    assert request.path == "/hook" and request.headers["X-Agentops-Event"] == "approval.approved"
    message = OutboxMessage.objects.get()
    assert request.headers["X-Agentops-Delivery"] == str(message.pk)
    assert message.idempotency_key == f"approval-callback-{approval_id}" and message.state == "delivered"


def test_every_final_state_calls_back_once(personas, hook):
    agent = _agent(personas.project)
    rejected = _ask(agent, hook.url)
    cancelled = _ask(agent, hook.url)
    expiring = _ask(agent, hook.url, expires_in=10)
    pending = _ask(agent, hook.url)
    services.approval_decide(
        project=personas.project, approval_id=rejected, reviewer=personas.reviewer, decision="reject", comment="no"
    )
    assert agent.post(f"/api/v1/approvals/{cancelled}/cancel/").status_code == 200
    later = timezone.now() + timedelta(seconds=11)
    services.approvals_expire(later)
    assert outbox.deliver_due(max_seconds=30).delivered == 3
    states = {b["id"]: b["state"] for b in _signed(hook, personas.project)}
    assert states == {rejected: "rejected", cancelled: "cancelled", expiring: "expired"}
    assert pending not in states


def test_quorum_calls_back_only_when_final(personas, hook):
    second = make_member(personas.project, Role.REVIEWER)
    approval_id = _ask(_agent(personas.project), hook.url, required_approvals=2)
    decide = {"project": personas.project, "approval_id": approval_id, "decision": "approve"}
    services.approval_decide(reviewer=personas.reviewer, **decide)
    assert not OutboxMessage.objects.exists()
    services.approval_decide(reviewer=second, **decide)
    outbox.deliver_due(max_seconds=30)
    [body] = _signed(hook, personas.project)
    assert body["state"] == "approved" and body["approvals"] == 2


def test_a_failed_callback_is_retried_with_the_same_delivery_id(personas, hook):
    approval_id = _ask(_agent(personas.project), hook.url)
    hook.status = 500
    services.approval_decide(
        project=personas.project, approval_id=approval_id, reviewer=personas.reviewer, decision="reject", comment="no"
    )
    assert outbox.deliver_due(max_seconds=30).retrying == 1
    message = OutboxMessage.objects.get()
    assert message.state == "pending" and message.attempts == 1 and "HTTP 500" in message.last_error
    assert message.next_attempt_at > timezone.now()  # backed off
    hook.status = 200
    _due_now()
    assert outbox.deliver_due(max_seconds=30).delivered == 1
    bodies = _signed(hook, personas.project)
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert {r.headers["X-Agentops-Delivery"] for r in hook.requests} == {str(message.pk)}
    assert list(message.attempts_made.order_by("at").values_list("ok", flat=True)) == [False, True]


def test_a_retry_after_a_rotation_is_signed_with_the_new_secret(personas, hook):
    approval_id = _ask(_agent(personas.project), hook.url)
    hook.status = 503
    services.approval_decide(
        project=personas.project, approval_id=approval_id, reviewer=personas.reviewer, decision="approve"
    )
    outbox.deliver_due(max_seconds=30)
    old = policy.callback_secret(personas.project)
    new = policy.callback_secret_rotate(project=personas.project, actor=personas.admin)
    assert new != old and new.startswith("whsec_")
    hook.status = 200
    _due_now()
    outbox.deliver_due(max_seconds=30)
    last = hook.requests[-1]
    assert verify(new, last.headers["X-Agentops-Signature"], last.body)
    assert not verify(old, last.headers["X-Agentops-Signature"], last.body)


def test_a_dead_callback_url_never_disables_anything(personas):
    with receiver(status=500) as dead:
        agent = _agent(personas.project)
        ids = [_ask(agent, dead.url) for _ in range(DISABLE_AFTER_FAILURES + 1)]
        for approval_id in ids:
            services.approval_decide(
                project=personas.project, approval_id=approval_id, reviewer=personas.reviewer, decision="approve"
            )
        outbox.deliver_due(max_seconds=30)
    assert len(dead.requests) == len(ids)
    channel = Channel.every_kind.get(project=personas.project, kind="callback")
    assert channel.enabled and channel.state == "ok"
    assert OutboxMessage.objects.filter(state="pending", attempts=1).count() == len(ids)


def test_a_decision_rolled_back_leaves_no_callback(personas, hook):
    approval_id = _ask(_agent(personas.project), hook.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.approval_decide(
            project=personas.project, approval_id=approval_id, reviewer=personas.reviewer, decision="approve"
        )
        assert OutboxMessage.objects.count() == 1  # written in the decision's transaction
        raise RuntimeError("the request's transaction fails after the decision")
    assert not OutboxMessage.objects.exists()


def test_no_callback_url_no_callback(personas):
    key = ingest_key_create(project=personas.project).key
    approval, _ = services.approval_request_create(
        project=personas.project, data={"action": "refund", "arguments": {}}, key=key
    )
    services.approval_decide(
        project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
    )
    assert not OutboxMessage.objects.exists() and not Channel.every_kind.exists()


def test_the_callback_channel_is_hidden_from_people_and_from_notifications(personas, hook):
    project = personas.project
    approval_id = _ask(_agent(project), hook.url)
    services.approval_decide(project=project, approval_id=approval_id, reviewer=personas.reviewer, decision="approve")
    callback = Channel.every_kind.get(project=project, kind="callback")
    slack = channel_create(project=project, kind="slack", url="https://hooks.example.com/a").channel
    # Every enabled channel of the project is the user's channels only.
    assert [m.channel_id for m in enqueue(project, "opened", {"summary": "x"})] == [slack.pk]
    assert enqueue(project, "opened", {"summary": "x"}, [callback]) == []
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=personas.admin).secret}")
    listed = client.get(f"/api/v1/projects/{project.slug}/channels/").json()
    listed = listed["results"] if isinstance(listed, dict) else listed
    assert [c["id"] for c in listed] == [slack.pk]
    assert client.get(f"/api/v1/projects/{project.slug}/channels/{callback.pk}/").status_code == 404
    made = client.post(
        f"/api/v1/projects/{project.slug}/channels/",
        {"kind": "callback", "url": "https://example.com/x"},
        content_type="application/json",
    )
    assert made.status_code == 400
    page = Client()
    page.force_login(personas.admin)
    body = page.get(f"/p/{project.slug}/channels/").content.decode()
    assert "approval callbacks" not in body
    assert page.post(f"/p/{project.slug}/channels/{callback.pk}/test/").status_code == 404
    assert page.post(f"/p/{project.slug}/channels/{callback.pk}/delete/").status_code == 404
    assert Channel.every_kind.filter(pk=callback.pk).exists()
