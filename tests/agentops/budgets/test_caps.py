"""/api/v1/projects/<slug>/step-caps/ (admins): the contract, validation naming the field, the audit,
who may call it; and a reserve that names a run at its agent's cap is refused, naming the cap and the
run's value."""

from __future__ import annotations

import pytest
from django.test import Client

from agentops.budgets.models import Reservation, StepCap
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import api_token_create, ingest_key_create
from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

RESERVE = "/api/v1/budgets/reserve/"


def _bearer(secret):
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _as(user):
    return _bearer(api_token_create(user=user).secret)


def _caps(project):
    return f"/api/v1/projects/{project.slug}/step-caps/"


def _post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_an_admin_creates_lists_changes_and_deletes_a_step_cap(personas):
    admin = _as(personas.admin)
    response = _post(admin, _caps(personas.project), {"agent": "support-bot", "max_steps": 40, "max_cost_usd": 0.5})
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["agent"] == "support-bot" and created["max_steps"] == 40 and created["max_cost_usd"] == 0.5
    assert created["max_tool_calls"] is None and created["max_tokens"] is None
    assert created["created_by"] == personas.admin.email
    assert [c["id"] for c in admin.get(_caps(personas.project)).json()["results"]] == [created["id"]]
    url = f"{_caps(personas.project)}{created['id']}/"
    changed = admin.patch(url, {"max_steps": None, "max_tool_calls": 12}, content_type="application/json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["max_steps"], changed.json()["max_tool_calls"]) == (None, 12)
    assert admin.get(url).json()["max_tool_calls"] == 12
    assert admin.delete(url).status_code == 204
    assert not StepCap.objects.exists()
    events = AuditEvent.objects.filter(project=personas.project, target_type="step_cap").order_by("id")
    assert [e.action for e in events] == ["step_cap.create", "step_cap.update", "step_cap.delete"]
    before, after = events[1].before or {}, events[1].after or {}
    assert before["max_steps"] == 40 and after["max_tool_calls"] == 12


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_steps": 3}, "agent"),
        ({"agent": "", "max_steps": 3}, "agent"),
        ({"agent": "a" * 201, "max_steps": 3}, "agent"),
        ({"agent": "bot"}, "max_steps"),  # no cap at all
        ({"agent": "bot", "max_steps": None, "max_cost_usd": None}, "max_steps"),
        ({"agent": "bot", "max_steps": 0}, "max_steps"),
        ({"agent": "bot", "max_steps": 2.5}, "max_steps"),
        ({"agent": "bot", "max_tool_calls": True}, "max_tool_calls"),
        ({"agent": "bot", "max_tokens": "many"}, "max_tokens"),
        ({"agent": "bot", "max_cost_usd": 0}, "max_cost_usd"),
        ({"agent": "bot", "max_cost_usd": "NaN"}, "max_cost_usd"),
        ({"agent": "bot", "max_steps": 3, "per": "run"}, "per"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(personas, body, field):
    response = _post(_as(personas.admin), _caps(personas.project), body)
    assert response.status_code == 400 and response.json()["field"] == field, response.json()
    assert not StepCap.objects.exists()


def test_one_cap_per_agent_and_a_patch_cannot_empty_it(personas):
    admin = _as(personas.admin)
    first = _post(admin, _caps(personas.project), {"agent": "bot", "max_steps": 3}).json()
    second = _post(admin, _caps(personas.project), {"agent": "bot", "max_tokens": 1000})
    assert second.status_code == 400 and second.json()["field"] == "agent"
    emptied = admin.patch(
        f"{_caps(personas.project)}{first['id']}/", {"max_steps": None}, content_type="application/json"
    )
    assert emptied.status_code == 400 and emptied.json()["field"] == "max_steps"
    assert StepCap.objects.get().max_steps == 3
    # The same agent name in another project is another cap.
    assert (
        _post(_as(personas.outsider), _caps(personas.other_project), {"agent": "bot", "max_steps": 1}).status_code
        == 201
    )


def test_only_the_projects_admins_see_its_caps(personas):
    created = _post(_as(personas.admin), _caps(personas.project), {"agent": "bot", "max_steps": 3}).json()
    url = f"{_caps(personas.project)}{created['id']}/"
    for user in (personas.engineer, personas.reviewer, personas.viewer, personas.outsider):
        assert _as(user).get(_caps(personas.project)).status_code == 404
        assert _as(user).get(url).status_code == 404
        assert _as(user).delete(url).status_code == 404
        assert _post(_as(user), _caps(personas.project), {"agent": "x", "max_steps": 1}).status_code == 404
    # Another project's cap under one's own slug is 404 even for its admin.
    assert _as(personas.outsider).get(f"{_caps(personas.other_project)}{created['id']}/").status_code == 404
    assert StepCap.objects.filter(pk=created["id"], max_steps=3).exists()


def _cap(project, **limits):
    return StepCap.objects.create(project=project, **limits)


@pytest.fixture
def reserve():
    """Reserve as the project's agent: one ingest key per project, since a retry must come from the
    key that made the first call."""
    secrets: dict[int, str] = {}

    def call(project, trace_hex, **extra):
        if project.pk not in secrets:
            secrets[project.pk] = ingest_key_create(project=project).secret
        response = _post(_bearer(secrets[project.pk]), RESERVE, {"estimate_usd": 0.01, "run_id": trace_hex, **extra})
        assert response.status_code in (200, 201), response.json()
        return response.json()

    return call


def test_a_reserve_naming_a_run_at_its_step_cap_is_refused(personas, reserve):
    project = personas.project
    looping = make_run(project, AgentTrace(agent="support-bot", llm_calls=4))  # 6 steps, 1 tool call
    _cap(project, agent="support-bot", max_steps=6)
    body = reserve(project, looping.trace_id.hex(), idempotency_key="step-7")
    assert body["allowed"] is False and body["reservation"] is None
    assert "max_steps 6" in body["reason"] and "6 steps" in body["reason"] and "support-bot" in body["reason"]
    # Its retry answers the same; nothing is held.
    again = reserve(project, looping.trace_id.hex(), idempotency_key="step-7")
    assert again["allowed"] is False and again["reason"] == body["reason"]
    assert not Reservation.objects.filter(state=Reservation.State.HELD).exists()


def test_cost_and_tool_calls_and_tokens_cap_too(personas, reserve):
    project = personas.project
    run = make_run(project, AgentTrace(agent="support-bot"))
    cap = _cap(project, agent="support-bot", max_tool_calls=1)
    assert "max_tool_calls 1" in reserve(project, run.trace_id.hex())["reason"]
    cap.max_tool_calls, cap.max_tokens = None, 1
    cap.save()
    assert "max_tokens 1" in reserve(project, run.trace_id.hex())["reason"]
    cap.max_tokens, cap.max_cost_usd = None, "0.0000000001"
    cap.save()
    assert "max_cost_usd" in reserve(project, run.trace_id.hex())["reason"]


def test_a_run_below_its_cap_or_of_another_agent_or_project_may_reserve(personas, reserve):
    project = personas.project
    short = make_run(project, AgentTrace(agent="support-bot", llm_calls=1))  # 3 steps
    other_agent = make_run(project, AgentTrace(agent="sales-bot", llm_calls=6))
    theirs = make_run(personas.other_project, AgentTrace(agent="support-bot", llm_calls=6))
    _cap(project, agent="support-bot", max_steps=4)
    for trace in (short, other_agent):
        assert reserve(project, trace.trace_id.hex())["allowed"] is True
    # Another project's run of the same name and trace id is not this project's run.
    assert reserve(project, theirs.trace_id.hex())["allowed"] is True
    # A run not traced yet has no values: nothing to judge by.
    assert reserve(project, "ab" * 16)["allowed"] is True
