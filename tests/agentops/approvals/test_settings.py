"""Approval settings (page and API): admins only, the default expiry within bounds and used by new
requests, the callback secret shown to admins and rotated, audited without the secret."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from agentops.approvals import policy, services
from agentops.approvals.models import ApprovalPolicy
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import api_token_create, ingest_key_create

pytestmark = pytest.mark.django_db


def _page_client(user):
    client = Client()
    client.force_login(user)
    return client


def _url(project):
    return f"/p/{project.slug}/approvals/settings/"


def _api(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _api_url(project):
    return f"/api/v1/projects/{project.slug}/approvals/settings/"


def test_only_admins_see_or_change_the_settings(personas):
    for name, user in personas.by_role().items():
        expected = 200 if name == "admin" else 404
        client = _page_client(user)
        assert client.get(_url(personas.project)).status_code == expected, name
        posted = client.post(_url(personas.project), {"default_expires_in": 600})
        assert posted.status_code == (302 if name == "admin" else 404), name
        assert _api(user).get(_api_url(personas.project)).status_code == expected, name
        patched = _api(user).patch(_api_url(personas.project), {"rotate_callback_secret": True}, "application/json")
        assert patched.status_code == expected, name
    # Only the admin's changes happened.
    assert ApprovalPolicy.objects.get(project=personas.project).default_expires_in == 600
    assert not ApprovalPolicy.objects.filter(project=personas.other_project).exists()


def test_reading_the_page_stores_nothing(personas):
    body = _page_client(personas.admin).get(_url(personas.project)).content.decode()
    assert 'id="no-callback-secret"' in body and 'value="3600"' in body
    assert not ApprovalPolicy.objects.exists()


def test_the_default_expiry_is_saved_audited_and_used(personas):
    client = _page_client(personas.admin)
    assert client.post(_url(personas.project), {"default_expires_in": 120}).status_code == 302
    event = AuditEvent.objects.get(action="approval.settings")
    assert event.before == {"default_expires_in": 3600} and event.after == {"default_expires_in": 120}
    key = ingest_key_create(project=personas.project).key
    approval, _ = services.approval_request_create(
        project=personas.project, data={"action": "refund", "arguments": {}}, key=key
    )
    assert 119 <= (approval.expires_at - approval.created_at).total_seconds() <= 121


@pytest.mark.parametrize("value", ["5", str(services.MAX_EXPIRES_IN + 1), "soon", ""])
def test_an_expiry_out_of_bounds_is_400_and_saves_nothing(personas, value):
    response = _page_client(personas.admin).post(_url(personas.project), {"default_expires_in": value})
    assert response.status_code == 400 and 'class="errorlist' in response.content.decode()
    assert not ApprovalPolicy.objects.exists()


def test_the_secret_is_made_shown_to_admins_rotated_and_audited_without_it(personas):
    client = _page_client(personas.admin)
    assert client.post(_url(personas.project), {"rotate": "1"}).status_code == 302
    first = ApprovalPolicy.objects.get(project=personas.project).callback_secret
    assert first.startswith("whsec_") and len(first) > 30
    assert first in client.get(_url(personas.project)).content.decode()
    client.post(_url(personas.project), {"rotate": "1"})
    second = policy.callback_secret(personas.project)
    assert second != first and second in client.get(_url(personas.project)).content.decode()
    events = AuditEvent.objects.filter(action="approval.settings")
    assert events.count() == 2
    for event in events:
        dumped = json.dumps([event.before, event.after, event.target_label])
        assert first not in dumped and second not in dumped and "rotated" in dumped


def test_the_api_reads_and_changes_the_settings(personas):
    client = _api(personas.admin)
    url = _api_url(personas.project)
    assert client.get(url).json() == {
        "default_expires_in": 3600,
        "min_expires_in": services.MIN_EXPIRES_IN,
        "max_expires_in": services.MAX_EXPIRES_IN,
        "callback_secret": None,
    }
    changed = client.patch(url, {"default_expires_in": 900, "rotate_callback_secret": True}, "application/json")
    assert changed.status_code == 200
    body = changed.json()
    assert body["default_expires_in"] == 900 and body["callback_secret"].startswith("whsec_")
    assert client.get(url).json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"default_expires_in": 1}, "default_expires_in"),
        ({"default_expires_in": "900"}, "default_expires_in"),
        ({"default_expires_in": True}, "default_expires_in"),
        ({"rotate_callback_secret": "yes"}, "rotate_callback_secret"),
        ({"callback_secret": "whsec_mine"}, "callback_secret"),
        ({"rotate_callback_secret": True, "default_expires_in": 2}, "default_expires_in"),
    ],
)
def test_the_api_refuses_a_bad_field_naming_it_and_changes_nothing(personas, body, field):
    response = _api(personas.admin).patch(_api_url(personas.project), body, "application/json")
    assert response.status_code == 400 and response.json()["field"] == field
    assert not ApprovalPolicy.objects.exclude(callback_secret="").exists()
    assert not ApprovalPolicy.objects.exclude(default_expires_in=3600).exists()


def test_an_outsider_cannot_reach_another_projects_settings(personas):
    policy.callback_secret_rotate(project=personas.project, actor=personas.admin)
    secret = policy.callback_secret(personas.project)
    client = _page_client(personas.outsider)
    for response in (client.get(_url(personas.project)), client.post(_url(personas.project), {"rotate": "1"})):
        assert response.status_code == 404 and secret not in response.content.decode()
    assert _api(personas.outsider).get(_api_url(personas.project)).status_code == 404
    assert policy.callback_secret(personas.project) == secret
