"""The retention settings (API and page) and pins: Admin only, validated, audited; outsiders get 404."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from agentops.retention.models import Pin, RetentionPolicy
from agentops.retention.policy import retention_policy
from agentops.tenancy.models import AuditEvent
from tests.agentops.retention.helpers import old_run
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@override_settings(RETENTION_PAYLOAD_DAYS=7, RETENTION_STEP_DAYS=30, RETENTION_RUN_DAYS=90)
def test_a_new_project_starts_with_the_environments_defaults():
    project = make_project()
    stored = RetentionPolicy.objects.get(project=project)
    assert (stored.payload_days, stored.step_days, stored.run_days) == (7, 30, 90)
    with override_settings(RETENTION_PAYLOAD_DAYS=None, RETENTION_STEP_DAYS=None, RETENTION_RUN_DAYS=None):
        assert retention_policy(project).payload_days == 7  # existing projects keep theirs


def test_admins_read_and_change_the_policy_and_each_change_is_audited(personas):
    url = f"/api/v1/projects/{personas.project.slug}/retention/"
    admin = _client(personas.admin)
    assert admin.get(url).json() | {"defaults": None} == {
        "payload_days": None,
        "step_days": None,
        "run_days": None,
        "defaults": None,
    }

    response = admin.patch(url, {"payload_days": 3, "step_days": 30, "run_days": 365}, content_type="application/json")

    assert response.status_code == 200 and response.json()["payload_days"] == 3
    event = AuditEvent.objects.get(project=personas.project, action="retention.policy")
    assert event.actor_id == personas.admin.pk
    assert event.before == {"payload_days": None, "step_days": None, "run_days": None}
    assert event.after == {"payload_days": 3, "step_days": 30, "run_days": 365}
    # payload <= step <= run, whole days: refused, naming the field, and nothing changes.
    for body, field in (
        ({"payload_days": 31}, "payload_days"),
        ({"run_days": 10}, "step_days"),
        ({"step_days": None}, "step_days"),
        ({"payload_days": 0}, "payload_days"),
        ({"payload_days": "3"}, "payload_days"),
        ({"forever": True}, "forever"),
    ):
        bad = admin.patch(url, body, content_type="application/json")
        assert (bad.status_code, bad.json()["field"]) == (400, field), body
    assert admin.get(url).json()["run_days"] == 365
    assert AuditEvent.objects.filter(action="retention.policy").count() == 1


def test_only_admins_see_or_change_retention(personas):
    slug = personas.project.slug
    for user in (personas.viewer, personas.engineer, personas.reviewer, personas.outsider):
        client = _client(user)
        assert client.get(f"/api/v1/projects/{slug}/retention/").status_code == 404
        assert (
            client.patch(
                f"/api/v1/projects/{slug}/retention/", {"payload_days": 1}, content_type="application/json"
            ).status_code
            == 404
        )
        assert client.get(f"/p/{slug}/settings/retention/").status_code == 404
        assert client.post(f"/p/{slug}/settings/retention/", {"payload_days": 1}).status_code == 404
    assert retention_policy(personas.project).payload_days is None


def test_the_settings_page_saves_the_policy(personas):
    client = _client(personas.admin)
    url = f"/p/{personas.project.slug}/settings/retention/"
    page = client.get(url)
    assert page.status_code == 200 and 'id="retention-form"' in page.content.decode()
    assert client.post(url, {"payload_days": "40", "step_days": "30"}).status_code == 400
    assert client.post(url, {"payload_days": "3", "step_days": "30", "run_days": ""}).status_code == 302
    policy = retention_policy(personas.project)
    assert (policy.payload_days, policy.step_days, policy.run_days) == (3, 30, None)


def test_pins_through_the_api(personas):
    project = personas.project
    run = old_run(project, days=1)
    others = old_run(personas.other_project, days=1)
    url = f"/api/v1/projects/{project.slug}/pins/"
    for user in (personas.engineer, personas.outsider):
        assert (
            _client(user).post(url, {"trace_id": run.trace_id.hex}, content_type="application/json").status_code == 404
        )
    admin = _client(personas.admin)

    created = admin.post(url, {"trace_id": run.trace_id.hex, "reason": "incident 12"}, content_type="application/json")
    again = admin.post(url, {"trace_id": run.trace_id.hex}, content_type="application/json")
    foreign = admin.post(url, {"trace_id": others.trace_id.hex}, content_type="application/json")

    assert created.status_code == 201 and again.status_code == 200
    assert foreign.status_code == 400 and foreign.json()["field"] == "trace_id"  # another project's run
    assert [p["trace_id"] for p in admin.get(url).json()["results"]] == [run.trace_id.hex]
    assert admin.delete(url, {"trace_id": run.trace_id.hex}, content_type="application/json").status_code == 204
    assert admin.delete(f"{url}?trace_id={run.trace_id.hex}").status_code == 404
    actions = list(
        AuditEvent.objects.filter(project=project, action__startswith="retention.").values_list("action", flat=True)
    )
    assert sorted(actions) == ["retention.pin", "retention.unpin"]


def test_the_pin_button_on_the_replay_page(personas):
    project = personas.project
    run = old_run(project, days=1)
    replay = f"/p/{project.slug}/runs/{run.trace_id.hex}/"
    admin = _client(personas.admin)
    assert 'id="pin-run"' in admin.get(replay).content.decode()
    assert 'id="pin-run"' not in _client(personas.engineer).get(replay).content.decode()
    assert _client(personas.engineer).post(f"{replay}pin/").status_code == 404

    assert admin.post(f"{replay}pin/", {"reason": "keep"}).status_code == 302
    assert Pin.objects.filter(project=project, trace_id=run.trace_id).exists()
    assert 'id="unpin-run"' in admin.get(replay).content.decode()
    assert admin.post(f"{replay}pin/", {"unpin": "1"}).status_code == 302
    assert not Pin.objects.filter(project=project).exists()
    missing = f"/p/{project.slug}/runs/{'ab' * 16}/pin/"
    assert admin.post(missing).status_code == 404
