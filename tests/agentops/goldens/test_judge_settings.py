"""The LLM judge settings page: Admins only, the key write-only and kept out of the audit, and a test
call against a local fake of an OpenAI-compatible API."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from agentops.goldens.models import JudgeSettings
from agentops.tenancy.models import AuditEvent
from tests.agentops.goldens.test_scorers import _FakeChat, fake_chat  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

KEY = "sk-secret-do-not-show-1234"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(project) -> str:
    return reverse("judge_settings", kwargs={"slug": project.slug})


def _form(base_url: str = "https://judge.example/v1", **extra: str) -> dict[str, str]:
    return {"base_url": base_url, "model": "judge-1", "timeout_seconds": "5", "api_key": "", **extra}


def test_an_admin_saves_the_judge_and_the_key_is_never_shown_back_nor_audited(personas):
    project, client = personas.project, _client(personas.admin)
    assert client.get(_url(project)).status_code == 200

    assert client.post(_url(project), _form(api_key=KEY)).status_code == 302
    config = JudgeSettings.objects.get(project=project)
    assert (config.base_url, config.model, config.timeout_seconds, config.api_key) == (
        "https://judge.example/v1",
        "judge-1",
        5.0,
        KEY,
    )
    page = client.get(_url(project)).content.decode()
    assert KEY not in page and "A key is stored." in page and 'value="https://judge.example/v1"' in page

    # A blank key keeps the stored one; the checkbox removes it.
    assert client.post(_url(project), _form(model="judge-2")).status_code == 302
    config.refresh_from_db()
    assert (config.model, config.api_key) == ("judge-2", KEY)
    assert client.post(_url(project), _form(clear_key="on")).status_code == 302
    config.refresh_from_db()
    assert config.api_key == ""

    events = list(AuditEvent.objects.filter(action="judge_settings.update").order_by("id"))
    assert [(e.after or {})["api_key"] for e in events] == ["changed", "kept", "cleared"]
    assert all(KEY not in str(e.before) + str(e.after) for e in events)


def test_bad_values_are_refused_beside_their_field(personas):
    project, client = personas.project, _client(personas.admin)
    refused = client.post(_url(project), _form(base_url="ftp://judge.example/v1", api_key=KEY))
    assert refused.status_code == 400 and "give the http(s) base URL" in refused.content.decode()
    assert KEY not in refused.content.decode()  # the page sent back does not echo the key typed
    slow = client.post(_url(project), _form(timeout_seconds="600"))
    assert slow.status_code == 400 and "give 1 to 120 seconds" in slow.content.decode()
    assert not JudgeSettings.objects.filter(project=project).exists()


def test_only_admins(personas):
    project = personas.project
    for user in (personas.viewer, personas.engineer, personas.reviewer, personas.outsider):
        client = _client(user)
        assert client.get(_url(project)).status_code == 404
        assert client.post(_url(project), _form(api_key=KEY)).status_code == 404
    assert not JudgeSettings.objects.filter(project=project).exists()


def test_the_test_button_sends_one_tiny_judge_call_and_shows_the_outcome(personas, fake_chat):  # noqa: F811
    project, client = personas.project, _client(personas.admin)
    untested = client.post(_url(project), {"test": "1"})
    assert untested.status_code == 400 and "Save the judge" in untested.content.decode()

    client.post(_url(project), _form(base_url=fake_chat, api_key=KEY))
    _FakeChat.answer = '{"pass": true, "reason": "the output is <b>ok</b>"}'
    with override_settings(NOTIFY_ALLOW_PRIVATE_URLS=True):
        answered = client.post(_url(project), {"test": "1"}).content.decode()
    assert "The judge answered (passed): the output is &lt;b&gt;ok&lt;/b&gt;." in answered
    assert len(_FakeChat.seen) == 1
    call = _FakeChat.seen[0]
    assert call["path"] == "/v1/chat/completions" and call["auth"] == f"Bearer {KEY}"
    assert call["body"]["model"] == "judge-1"

    # Without the switch a loopback endpoint is refused, and the page says why.
    refused = client.post(_url(project), {"test": "1"}).content.decode()
    assert "The judge could not be used:" in refused and "private or loopback" in refused
    assert len(_FakeChat.seen) == 1
