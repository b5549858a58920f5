"""/api/v1/projects/<slug>/channels/: the contract, who may do what, and secrets shown once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agentops.notify import outbox, services
from agentops.notify.models import Channel, OutboxMessage
from agentops.tenancy.services import api_token_create

pytestmark = pytest.mark.django_db


def _url(project, *rest):
    return "/".join([f"/api/v1/projects/{project.slug}/channels", *map(str, rest), ""])


def _as(client, user):
    """A client of its own for `user` (the fixture's `client` is not changed)."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _webhook(project, url="https://hooks.example.com/in?token=abc"):
    return services.channel_create(project=project, kind="webhook", url=url)


def test_create_a_webhook_shows_its_secret_once(client, personas):
    api = _as(client, personas.engineer)
    body = {"kind": "webhook", "url": "https://hooks.example.com/in", "secret": "a-secret-of-twenty-chars"}
    response = api.post(_url(personas.project), body, content_type="application/json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["secret"] == "a-secret-of-twenty-chars"
    assert created["kind"] == "webhook" and created["state"] == "ok" and created["enabled"] is True
    assert created["created_by"] == personas.engineer.email
    for response in (api.get(_url(personas.project)), api.get(_url(personas.project, created["id"]))):
        assert response.status_code == 200
        assert "a-secret-of-twenty-chars" not in response.content.decode()


def test_a_secret_is_made_when_not_given(client, personas):
    api = _as(client, personas.engineer)
    response = api.post(_url(personas.project), {"kind": "webhook", "url": "http://127.0.0.1:9/x"}, "application/json")
    assert response.status_code == 201 and response.json()["secret"].startswith("whsec_")


def test_create_slack_and_email(client, personas):
    api = _as(client, personas.admin)
    slack = api.post(
        _url(personas.project), {"kind": "slack", "url": "https://hooks.slack.com/services/T/B/x"}, "application/json"
    )
    email = api.post(
        _url(personas.project), {"kind": "email", "recipients": ["oncall@example.com"]}, "application/json"
    )
    assert slack.status_code == 201 and "secret" not in slack.json()
    assert slack.json()["url"] == "https://hooks.slack.com/…"  # the path is Slack's credential
    assert email.status_code == 201 and email.json()["recipients"] == ["oncall@example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "webhook", "url": "ftp://x.example/"}, "url"),
        ({"kind": "webhook"}, "url"),
        ({"kind": "sms", "url": "https://x.example/"}, "kind"),
        ({"url": "https://x.example/"}, "kind"),
        ({"kind": "webhook", "url": "https://x.example/", "secret": "short"}, "secret"),
        ({"kind": "email", "recipients": ["nope"]}, "recipients"),
        ({"kind": "webhook", "url": "https://x.example/", "enabled": False}, "enabled"),
    ],
)
def test_a_bad_field_is_400_naming_it(client, personas, body, field):
    response = _as(client, personas.engineer).post(_url(personas.project), body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Channel.objects.exists()


def test_patch_changes_given_fields_and_rotates_the_secret(client, personas):
    minted = _webhook(personas.project)
    api = _as(client, personas.engineer)
    url = _url(personas.project, minted.channel.pk)
    response = api.patch(url, {"name": "on-call", "url": "https://new.example.com/h"}, content_type="application/json")
    assert response.status_code == 200 and "secret" not in response.json()
    assert response.json()["name"] == "on-call" and response.json()["url"] == "https://new.example.com/h"
    response = api.patch(url, {"rotate_secret": True}, content_type="application/json")
    secret = response.json()["secret"]
    assert secret != minted.secret and Channel.objects.get().secret == secret
    response = api.patch(url, {"url": "gopher://x"}, content_type="application/json")
    assert response.status_code == 400 and "url" in response.json()
    response = api.patch(url, {"kind": "email"}, content_type="application/json")
    assert response.status_code == 400 and "kind" in response.json()


def test_enable_again_after_the_failure_policy_disabled_it(client, personas):
    channel = _webhook(personas.project).channel
    Channel.objects.filter(pk=channel.pk).update(
        state="disabled", enabled=False, consecutive_failures=5, last_error="HTTP 500 <b>boom</b>"
    )
    api = _as(client, personas.engineer)
    shown = api.get(_url(personas.project, channel.pk)).json()
    assert (shown["state"], shown["enabled"], shown["consecutive_failures"]) == ("disabled", False, 5)
    assert shown["last_error"] == "HTTP 500 <b>boom</b>"
    response = api.patch(_url(personas.project, channel.pk), {"enabled": True}, content_type="application/json")
    assert (response.json()["state"], response.json()["enabled"]) == ("ok", True)


def test_delete_drops_the_channel_and_its_queue(client, personas):
    channel = _webhook(personas.project).channel
    services.enqueue(personas.project, "opened", {"summary": "x"})
    response = _as(client, personas.engineer).delete(_url(personas.project, channel.pk))
    assert response.status_code == 204
    assert not Channel.objects.exists() and not OutboxMessage.objects.exists()


def test_send_a_test_and_read_the_deliveries(client, personas, hook):
    channel = services.channel_create(project=personas.project, kind="webhook", url=hook.url).channel
    api = _as(client, personas.engineer)
    response = api.post(_url(personas.project, channel.pk, "test"))
    assert response.status_code == 202 and response.json()["event"] == "test"
    outbox.deliver_due()
    assert len(hook.requests) == 1 and hook.requests[0].headers["X-Agentops-Event"] == "test"
    deliveries = _as(client, personas.viewer).get(_url(personas.project, channel.pk, "deliveries")).json()["results"]
    assert len(deliveries) == 1
    assert deliveries[0]["ok"] is True and deliveries[0]["status_code"] == 200
    assert deliveries[0]["message"]["event"] == "test" and deliveries[0]["message"]["state"] == "delivered"

    services.channel_update(channel=channel, enabled=False)
    assert api.post(_url(personas.project, channel.pk, "test")).status_code == 409


def test_a_viewer_reads_the_state_but_no_secret_and_cannot_write(client, personas):
    minted = _webhook(personas.project)
    channel = minted.channel
    api = _as(client, personas.viewer)
    listed = api.get(_url(personas.project))
    assert listed.status_code == 200
    [shown] = listed.json()["results"]
    assert shown["state"] == "ok" and shown["url"] == "https://hooks.example.com/…"
    assert minted.secret not in listed.content.decode() and "token=abc" not in listed.content.decode()
    # The chokepoint's rule: a member without the permission gets 404, as on the pages.
    body = {"kind": "webhook", "url": "https://x.example/"}
    assert api.post(_url(personas.project), body, content_type="application/json").status_code == 404
    assert api.patch(_url(personas.project, channel.pk), {"enabled": False}, "application/json").status_code == 404
    assert api.delete(_url(personas.project, channel.pk)).status_code == 404
    assert api.post(_url(personas.project, channel.pk, "test")).status_code == 404
    channel.refresh_from_db()
    assert channel.enabled and Channel.objects.count() == 1 and not OutboxMessage.objects.exists()


def test_outsiders_get_404_for_everything(client, personas):
    channel = _webhook(personas.project).channel
    api = _as(client, personas.outsider)
    for url in (
        _url(personas.project),
        _url(personas.project, channel.pk),
        _url(personas.project, channel.pk, "deliveries"),
    ):
        assert api.get(url).status_code == 404, url
    assert api.post(_url(personas.project, channel.pk, "test")).status_code == 404
    assert api.delete(_url(personas.project, channel.pk)).status_code == 404
    assert Channel.objects.count() == 1


def test_another_projects_channel_under_ones_own_slug_is_404(client, personas):
    foreign = _webhook(personas.other_project).channel
    api = _as(client, personas.admin)
    assert api.get(_url(personas.project, foreign.pk)).status_code == 404
    assert api.patch(_url(personas.project, foreign.pk), {"name": "x"}, "application/json").status_code == 404
    assert api.delete(_url(personas.project, foreign.pk)).status_code == 404
    assert api.post(_url(personas.project, foreign.pk, "test")).status_code == 404
    assert api.get(_url(personas.project, foreign.pk, "deliveries")).status_code == 404
    assert Channel.objects.get().name == foreign.name


def test_a_method_the_endpoint_does_not_serve_is_405_for_a_member(client, personas):
    channel = _webhook(personas.project).channel
    api = _as(client, personas.engineer)
    assert api.get(_url(personas.project, channel.pk, "test")).status_code == 405
    assert api.put(_url(personas.project, channel.pk), {}, "application/json").status_code == 405


def test_anonymous_gets_401(client, personas):
    assert client.get(_url(personas.project)).status_code == 401


def _list_queries(client, project):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url(project)).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_whatever_the_number_of_channels(client, personas):
    api = _as(client, personas.engineer)
    _webhook(personas.project)
    _list_queries(api, personas.project)  # the token's first use is recorded once
    one = _list_queries(api, personas.project)
    for n in range(5):
        services.channel_create(project=personas.project, kind="email", recipients=[f"u{n}@example.com"])
    assert _list_queries(api, personas.project) == one
