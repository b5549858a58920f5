"""The channels page: list with state, create (secret once), actions, escaping, and who may do what."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentops.notify import outbox, services
from agentops.notify.models import Channel, OutboxMessage

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'


def _page(project):
    return f"/p/{project.slug}/channels/"


def _logged_in(client, user):
    client.force_login(user)
    return client


def test_the_tab_and_an_empty_page(client, personas):
    response = _logged_in(client, personas.viewer).get(_page(personas.project))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{_page(personas.project)}" class="active">Channels</a>' in html
    assert "No channels yet" in html
    assert "Add a channel" not in html  # a Viewer edits nothing


def test_creating_a_webhook_shows_its_secret_once(client, personas):
    client = _logged_in(client, personas.engineer)
    form = {"kind": "webhook", "name": "ops", "url": "https://hooks.example.com/in"}
    response = client.post(f"{_page(personas.project)}create/", form)
    assert response.status_code == 200
    secret = Channel.objects.get().secret
    assert secret in response.content.decode() and "only time it is shown" in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")
    assert secret not in client.get(_page(personas.project)).content.decode()


def test_a_slack_channel_is_created_with_a_redirect(client, personas):
    client = _logged_in(client, personas.engineer)
    form = {"kind": "slack", "url": "https://hooks.slack.com/services/T/B/secretpath"}
    response = client.post(f"{_page(personas.project)}create/", form)
    assert response.status_code == 302
    page = client.get(_page(personas.project)).content.decode()
    assert "https://hooks.slack.com/…" in page and "secretpath" not in page


def test_a_bad_url_answers_400_with_the_message_and_saves_nothing(client, personas):
    client = _logged_in(client, personas.engineer)
    response = client.post(f"{_page(personas.project)}create/", {"kind": "webhook", "url": "javascript:alert(1)"})
    assert response.status_code == 400
    assert "must start with http:// or https://" in response.content.decode()
    assert not Channel.objects.exists()


def test_hostile_values_are_escaped(client, personas):
    channel = services.channel_create(
        project=personas.project, kind="email", name=HOSTILE, recipients=["a@example.com"]
    ).channel
    Channel.objects.filter(pk=channel.pk).update(state="failing", consecutive_failures=1, last_error=HOSTILE)
    html = _logged_in(client, personas.engineer).get(_page(personas.project)).content.decode()
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "failing (1 in a row)" in html


def test_disabled_state_and_recent_deliveries_are_shown(client, personas, hook):
    channel = services.channel_create(project=personas.project, kind="webhook", url=hook.url).channel
    services.channel_send_test(channel=channel)
    outbox.deliver_due()
    Channel.objects.filter(pk=channel.pk).update(
        state="disabled", enabled=False, consecutive_failures=5, last_error="HTTP 500 Internal"
    )
    html = _logged_in(client, personas.viewer).get(_page(personas.project)).content.decode()
    assert "disabled after 5 failures" in html and "HTTP 500 Internal" in html
    assert "test:" in html and "<strong>delivered</strong>" in html


def test_htmx_actions_answer_the_channels_rows(client, personas):
    channel = services.channel_create(project=personas.project, kind="slack", url="https://hooks.example/x").channel
    client = _logged_in(client, personas.engineer)
    base = f"{_page(personas.project)}{channel.pk}"
    htmx = {"HTTP_HX_REQUEST": "true"}

    response = client.post(f"{base}/test/", **htmx)
    assert response.status_code == 200 and f'id="channel-{channel.pk}"' in response.content.decode()
    assert "1 pending" in response.content.decode() and 'hx-trigger="every 2s"' in response.content.decode()
    assert OutboxMessage.objects.get().event == "test"

    response = client.post(f"{base}/enabled/", {"enabled": "0"}, **htmx)
    assert "paused" in response.content.decode() and not Channel.objects.get().enabled
    response = client.post(f"{base}/enabled/", {"enabled": "1"}, **htmx)
    assert ">ok<" in response.content.decode() and Channel.objects.get().enabled

    response = client.post(f"{base}/delete/", **htmx)
    assert response.status_code == 200 and response.content == b""
    assert not Channel.objects.exists()


def test_a_viewer_cannot_change_anything(client, personas):
    channel = services.channel_create(project=personas.project, kind="slack", url="https://hooks.example/x").channel
    client = _logged_in(client, personas.viewer)
    base = f"{_page(personas.project)}{channel.pk}"
    assert (
        client.post(f"{_page(personas.project)}create/", {"kind": "slack", "url": "https://x.example/"}).status_code
        == 404
    )
    for action in ("test", "enabled", "delete"):
        assert client.post(f"{base}/{action}/", {"enabled": "0"}).status_code == 404
    channel.refresh_from_db()
    assert channel.enabled and Channel.objects.count() == 1 and not OutboxMessage.objects.exists()
    assert client.get(f"{base}/").status_code == 200


def test_outsiders_and_other_projects_channels_get_404(client, personas):
    channel = services.channel_create(project=personas.project, kind="slack", url="https://hooks.example/x").channel
    foreign = services.channel_create(project=personas.other_project, kind="slack", url="https://h.example/y").channel
    outsider = _logged_in(client, personas.outsider)
    assert outsider.get(_page(personas.project)).status_code == 404
    assert outsider.get(f"{_page(personas.project)}{channel.pk}/").status_code == 404
    assert outsider.post(f"{_page(personas.project)}{channel.pk}/delete/").status_code == 404
    client.force_login(personas.admin)
    assert client.get(f"{_page(personas.project)}{foreign.pk}/").status_code == 404
    assert client.post(f"{_page(personas.project)}{foreign.pk}/delete/").status_code == 404
    assert Channel.objects.count() == 2


def _page_queries(client, project):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_page(project)).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_whatever_the_number_of_channels(client, personas, hook):
    client = _logged_in(client, personas.engineer)
    channel = services.channel_create(project=personas.project, kind="webhook", url=hook.url).channel
    services.channel_send_test(channel=channel)
    outbox.deliver_due()
    one = _page_queries(client, personas.project)
    for n in range(4):
        other = services.channel_create(project=personas.project, kind="webhook", url=hook.url, name=f"h{n}").channel
        services.channel_send_test(channel=other)
    outbox.deliver_due()
    assert _page_queries(client, personas.project) == one
