"""Slack and e-mail: hostile payload values stay text, and the message goes out."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from agentops.notify import outbox, services
from agentops.notify.senders import safe_link, slack_escape
from tests.factories import make_project

HOSTILE = "<!channel> & <https://evil.example|click> *bold*\r\nBcc: victim@example.com"


def test_slack_escapes_its_three_control_characters():
    assert slack_escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert slack_escape("&amp;") == "&amp;amp;"


def test_only_http_links_are_kept():
    assert safe_link("https://agentops.example/p/x/") == "https://agentops.example/p/x/"
    for bad in ("javascript:alert(1)", "mailto:x@example.com", "//evil.example", 42, None, "https://"):
        assert safe_link(bad) == ""


@pytest.mark.django_db
def test_a_slack_message_carries_no_live_mention_or_link_from_the_payload(hook):
    project = make_project(name="Acme <&>")
    services.channel_create(project=project, kind="slack", url=hook.url)
    url = "https://agentops.example/p/x/?a=1&b=<2>|x"
    services.enqueue(project, "opened", {"summary": HOSTILE, "url": url})
    assert outbox.deliver_due().delivered == 1

    request = hook.requests[0]
    assert "X-Agentops-Signature" not in request.headers  # Slack does not check one
    body = json.loads(request.body)
    assert set(body) == {"text", "blocks"}
    section = body["blocks"][0]["text"]["text"]
    for text in (body["text"], section):
        assert "<" not in text and ">" not in text
        assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
        assert "Acme &lt;&amp;&gt;" in text
    link = body["blocks"][1]["elements"][0]["text"]
    # One link, ours: the payload's "|", "<" and ">" cannot end it early or open another.
    assert link.count("<") == 1 and link.count(">") == 1 and link.count("|") == 1
    assert link.startswith("<https://agentops.example/p/x/?a=1&amp;b=%3C2%3E%7Cx|")


@pytest.mark.django_db
def test_a_slack_message_without_link_has_one_block(hook):
    project = make_project()
    services.channel_create(project=project, kind="slack", url=hook.url)
    services.enqueue(project, "test", {"summary": "hi", "url": "javascript:alert(1)"})
    outbox.deliver_due()
    assert len(json.loads(hook.requests[0].body)["blocks"]) == 1


@pytest.mark.django_db
def test_an_email_goes_to_every_recipient_with_a_one_line_subject():
    project = make_project()
    services.channel_create(project=project, kind="email", recipients=["a@example.com", "b@example.com"])
    services.enqueue(project, "opened", {"summary": HOSTILE, "url": "https://agentops.example/a/1"})
    assert outbox.deliver_due().delivered == 1

    [email] = mail.outbox
    assert email.to == ["a@example.com", "b@example.com"] and email.bcc == []
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject.startswith(f"[agentops] {project.name}: <!channel>")
    assert "https://agentops.example/a/1" in email.body and "Event: opened" in email.body


@pytest.mark.django_db
def test_a_mail_server_error_is_a_failed_attempt(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    project = make_project()
    channel = services.channel_create(project=project, kind="email", recipients=["a@example.com"]).channel
    services.enqueue(project, "opened", {"summary": "x"})
    sweep = outbox.deliver_due()
    channel.refresh_from_db()
    assert sweep.retrying == 1 and channel.state == "failing" and "Connection" in channel.last_error
