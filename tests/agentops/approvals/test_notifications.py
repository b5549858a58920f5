"""Notifications of approvals: a new high-risk request goes to the project's channels once, with a link
to its page; an escalation carries the same link; hostile text reaches Slack escaped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import resolve
from django.utils import timezone

from agentops.approvals import services
from agentops.approvals.presenters import approval_url
from agentops.notify import outbox
from agentops.notify.models import OutboxMessage
from agentops.notify.senders import slack_body
from agentops.notify.services import channel_create
from agentops.tenancy.services import ingest_key_create
from tests.agentops.notify.receiver import receiver

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script> & <@channel>\nsecond line"


def _ask(project, key, **fields):
    data = {"action": "refund", "arguments": {"order": 7}, **fields}
    return services.approval_request_create(project=project, data=data, key=key)


def test_a_high_risk_request_notifies_every_channel_once_with_a_link(personas, settings):
    settings.SITE_URL = "https://agentops.example.com"
    project = personas.project
    slack = channel_create(project=project, kind="slack", url="https://hooks.example.com/a").channel
    hook = channel_create(project=project, kind="webhook", url="https://hooks.example.com/b").channel
    key = ingest_key_create(project=project).key
    approval, created = _ask(project, key, risk="high", summary="Refund order 7", idempotency_key="call-1")
    again, created_again = _ask(project, key, risk="high", summary="Refund order 7", idempotency_key="call-1")
    assert created and not created_again and again.pk == approval.pk
    messages = list(OutboxMessage.objects.filter(event="approval.requested").order_by("channel_id"))
    assert [m.channel_id for m in messages] == sorted([slack.pk, hook.pk])
    url = f"https://agentops.example.com/p/{project.slug}/approvals/{approval.pk}/"
    assert approval_url(approval) == url
    for message in messages:
        assert message.idempotency_key == f"approval-requested-{approval.pk}"
        assert message.payload["url"] == url
        assert message.payload["summary"] == f"High-risk approval requested: refund #{approval.pk} (Refund order 7)"
        assert message.payload["approval"] == {"id": approval.pk, "action": "refund", "risk": "high"}


def test_low_and_medium_risk_requests_notify_nobody(personas):
    channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/a")
    key = ingest_key_create(project=personas.project).key
    _ask(personas.project, key, risk="low")
    _ask(personas.project, key)  # medium, the default
    assert not OutboxMessage.objects.exists()


def test_a_request_refused_for_bad_input_notifies_nobody(personas):
    channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/a")
    key = ingest_key_create(project=personas.project).key
    with pytest.raises(services.ApprovalInvalid):
        _ask(personas.project, key, risk="high", expires_in=1)
    assert not OutboxMessage.objects.exists()


def test_the_summary_is_one_line_and_reaches_slack_escaped(personas):
    channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/a")
    key = ingest_key_create(project=personas.project).key
    _ask(personas.project, key, risk="high", summary=HOSTILE)
    message = OutboxMessage.objects.select_related("project").get()
    assert "\n" not in message.payload["summary"]
    text = slack_body(message)["text"]
    assert "<script>" not in text and "<@channel>" not in text and "&lt;script&gt;" in text


def test_an_escalation_links_to_the_request(personas, settings):
    settings.SITE_URL = "https://agentops.example.com"
    channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/a")
    key = ingest_key_create(project=personas.project).key
    approval, _ = _ask(personas.project, key, expires_in=60, on_timeout="escalate")
    assert services.approvals_expire(timezone.now() + timedelta(seconds=61)) == {"expired": 0, "escalated": 1}
    message = OutboxMessage.objects.get(event="approval.escalated")
    assert message.payload["url"] == approval_url(approval)


def test_the_link_is_the_request_page(personas, settings):
    settings.SITE_URL = "https://agentops.example.com"
    key = ingest_key_create(project=personas.project).key
    approval, _ = _ask(personas.project, key)
    path = f"/p/{personas.project.slug}/approvals/{approval.pk}/"
    assert approval_url(approval) == "https://agentops.example.com" + path
    assert resolve(path).url_name == "approval_detail"


def test_a_webhook_receives_the_notification(personas, settings):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    with receiver() as hook:
        channel_create(project=personas.project, kind="webhook", url=hook.url)
        key = ingest_key_create(project=personas.project).key
        approval, _ = _ask(personas.project, key, risk="high")
        sweep = outbox.deliver_due(max_seconds=30)
    assert sweep.delivered == 1 and len(hook.requests) == 1
    assert hook.requests[0].headers["X-Agentops-Event"] == "approval.requested"
    assert f"/approvals/{approval.pk}/" in hook.requests[0].body.decode()
