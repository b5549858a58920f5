"""Channel checks, for the API and the pages alike: a bad value names its field."""

from __future__ import annotations

import pytest

from agentops.notify import services
from agentops.notify.services import ChannelError
from agentops.tenancy.models import AuditEvent
from tests.factories import make_project

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "pager"}, "kind"),
        ({"kind": "webhook"}, "url"),
        ({"kind": "webhook", "url": "ftp://example.com/x"}, "url"),
        ({"kind": "webhook", "url": "javascript:alert(1)"}, "url"),
        ({"kind": "webhook", "url": "https://"}, "url"),
        ({"kind": "webhook", "url": "https://example.com:notaport/"}, "url"),
        ({"kind": "webhook", "url": "https://exa mple.com/"}, "url"),
        ({"kind": "webhook", "url": "https://example.com/", "secret": "short"}, "secret"),
        ({"kind": "slack", "url": "https://hooks.slack.com/x", "secret": "a-long-enough-secret"}, "secret"),
        ({"kind": "slack", "url": "https://hooks.slack.com/x", "recipients": ["a@example.com"]}, "recipients"),
        ({"kind": "email"}, "recipients"),
        ({"kind": "email", "recipients": ["not an address"]}, "recipients"),
        ({"kind": "email", "recipients": ["a@example.com"], "url": "https://example.com"}, "url"),
        ({"kind": "email", "recipients": [f"u{n}@example.com" for n in range(21)]}, "recipients"),
        ({"kind": "webhook", "url": "https://example.com/", "name": "x" * 201}, "name"),
    ],
)
def test_bad_values_name_their_field(kwargs, field):
    with pytest.raises(ChannelError) as caught:
        services.channel_create(project=make_project(), **kwargs)
    assert caught.value.field == field


def test_a_webhook_gets_a_secret_and_a_name_when_none_is_given():
    minted = services.channel_create(project=make_project(), kind="webhook", url="https://hooks.example.com/a")
    assert minted.secret and minted.secret.startswith("whsec_") and len(minted.secret) > 40
    assert minted.channel.secret == minted.secret
    assert minted.channel.name == "webhook to hooks.example.com"


def test_rotating_makes_a_new_secret_and_the_audit_log_never_holds_one():
    project = make_project()
    minted = services.channel_create(project=project, kind="webhook", url="https://h.example.com/?token=abc")
    rotated = services.channel_update(channel=minted.channel, rotate_secret=True)
    assert rotated.secret and rotated.secret != minted.secret
    assert services.channel_update(channel=minted.channel, name="renamed").secret is None
    events = AuditEvent.objects.filter(project=project, target_type="channel")
    assert [e.action for e in events.order_by("id")] == ["channel.create", "channel.update", "channel.update"]
    for event in events:
        text = repr((event.before, event.after, event.target_label))
        assert str(minted.secret) not in text and str(rotated.secret) not in text and "token=abc" not in text


def test_recipients_may_be_one_text():
    minted = services.channel_create(project=make_project(), kind="email", recipients="a@example.com, b@example.com")
    assert minted.channel.recipients == ["a@example.com", "b@example.com"] and minted.secret is None


def test_a_test_needs_an_enabled_channel():
    channel = services.channel_create(project=make_project(), kind="slack", url="https://hooks.example/x").channel
    assert services.channel_send_test(channel=channel).event == "test"
    services.channel_update(channel=channel, enabled=False)
    channel.refresh_from_db()
    with pytest.raises(ChannelError):
        services.channel_send_test(channel=channel)
