"""/api/v1/approvals/ (agents) and /api/v1/projects/<slug>/approvals/ (reviewers): the contract, who
sees what, and that another tenant or another key gets 404."""

from __future__ import annotations

import pytest
from django.test import Client
from guardian.shortcuts import remove_perm

from agentops.approvals import services
from agentops.approvals.models import ApprovalRequest
from agentops.tenancy.models import Membership
from agentops.tenancy.roles import Perm
from agentops.tenancy.services import api_token_create, ingest_key_create

pytestmark = pytest.mark.django_db

BODY = {"action": "refund", "arguments": {"order": 7, "amount": 30}, "summary": "Refund order 7", "risk": "high"}


def _bearer(secret):
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _as(user):
    return _bearer(api_token_create(user=user).secret)


def _agent(project):
    return _bearer(ingest_key_create(project=project).secret)


def _post(client, url, body):
    return client.post(url, body, content_type="application/json")


def _decide(client, project, approval_id, body):
    return _post(client, f"/api/v1/projects/{project.slug}/approvals/{approval_id}/decision/", body)


def test_an_agent_asks_reads_and_sees_the_decision(personas):
    agent = _agent(personas.project)
    response = _post(agent, "/api/v1/approvals/", BODY)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["state"] == "pending" and created["arguments"] == BODY["arguments"]
    assert created["arguments_to_use"] is None and created["project"] == personas.project.slug
    url = f"/api/v1/approvals/{created['id']}/"
    assert agent.get(url).json()["state"] == "pending"
    decided = _decide(
        _as(personas.reviewer), personas.project, created["id"], {"decision": "approve", "arguments": {"order": 7}}
    )
    assert decided.status_code == 200, decided.json()
    seen = agent.get(url).json()
    assert seen["state"] == "approved" and seen["arguments_to_use"] == {"order": 7} and seen["edited"]
    assert seen["arguments"] == BODY["arguments"]
    assert [(d["reviewer"], d["decision"]) for d in seen["decisions"]] == [(personas.reviewer.email, "approve")]


def test_bad_input_is_400_naming_the_field_and_creates_nothing(personas):
    agent = _agent(personas.project)
    for body, field in (
        ({**BODY, "colour": "red"}, "colour"),
        ({**BODY, "arguments": "not an object"}, "arguments"),
        ({**BODY, "expires_in": 1}, "expires_in"),
        ({**BODY, "project": personas.project.slug}, "project"),
        ([1, 2], "body"),
    ):
        response = _post(agent, "/api/v1/approvals/", body)
        assert response.status_code == 400 and response.json()["field"] == field, (body, response.content)
    response = agent.post("/api/v1/approvals/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert not ApprovalRequest.objects.exists()


def test_an_idempotent_retry_answers_the_same_request(personas):
    agent = _agent(personas.project)
    first = _post(agent, "/api/v1/approvals/", {**BODY, "idempotency_key": "tool-call-1"})
    again = _post(agent, "/api/v1/approvals/", {**BODY, "idempotency_key": "tool-call-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and ApprovalRequest.objects.count() == 1


def test_only_the_creating_key_reads_or_cancels_its_request(personas):
    agent = _agent(personas.project)
    created = _post(agent, "/api/v1/approvals/", BODY).json()
    url = f"/api/v1/approvals/{created['id']}/"
    for stranger in (
        _agent(personas.project),
        _agent(personas.other_project),
        _as(personas.admin),
        _as(personas.outsider),
    ):
        assert stranger.get(url).status_code == 404
        assert stranger.post(url + "cancel/").status_code == 404
    assert Client().get(url).status_code == 401
    cancelled = agent.post(url + "cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert agent.post(url + "cancel/").status_code == 409


def test_a_person_asks_with_a_project_slug(personas):
    engineer = _as(personas.engineer)
    assert _post(engineer, "/api/v1/approvals/", BODY).json()["field"] == "project"
    created = _post(engineer, "/api/v1/approvals/", {**BODY, "project": personas.project.slug})
    assert created.status_code == 201 and created.json()["created_by"] == personas.engineer.email
    assert engineer.get(f"/api/v1/approvals/{created.json()['id']}/").status_code == 200
    # An outsider naming the project gets 404, as for a project that does not exist; nothing is created.
    outsider = _post(_as(personas.outsider), "/api/v1/approvals/", {**BODY, "project": personas.project.slug})
    nowhere = _post(engineer, "/api/v1/approvals/", {**BODY, "project": "no-such-project"})
    assert outsider.status_code == nowhere.status_code == 404
    assert ApprovalRequest.objects.count() == 1


def test_self_approval_through_the_api_is_403(personas):
    reviewer = _as(personas.reviewer)
    created = _post(reviewer, "/api/v1/approvals/", {**BODY, "project": personas.project.slug}).json()
    response = _decide(reviewer, personas.project, created["id"], {"decision": "approve"})
    assert response.status_code == 403 and response.json()["field"] == "reviewer"
    assert ApprovalRequest.objects.get().state == "pending"


def test_quorum_of_two_through_the_api(personas):
    created = _post(_agent(personas.project), "/api/v1/approvals/", {**BODY, "required_approvals": 2}).json()
    first = _decide(_as(personas.reviewer), personas.project, created["id"], {"decision": "approve"})
    assert first.json()["state"] == "pending" and first.json()["approvals"] == 1
    assert _decide(_as(personas.reviewer), personas.project, created["id"], {"decision": "approve"}).status_code == 409
    second = _decide(_as(personas.admin), personas.project, created["id"], {"decision": "approve"})
    assert second.json()["state"] == "approved"


def test_only_reviewers_and_admins_decide(personas):
    created = _post(_agent(personas.project), "/api/v1/approvals/", BODY).json()
    for user in (personas.viewer, personas.engineer, personas.outsider):
        assert _decide(_as(user), personas.project, created["id"], {"decision": "approve"}).status_code == 404
    # Another project's request under one's own slug: 404 even for an admin.
    other = _post(_agent(personas.other_project), "/api/v1/approvals/", BODY).json()
    assert _decide(_as(personas.admin), personas.project, other["id"], {"decision": "approve"}).status_code == 404
    bad = _decide(_as(personas.reviewer), personas.project, created["id"], {"decision": "approve", "x": 1})
    assert bad.status_code == 400 and bad.json()["field"] == "x"
    assert ApprovalRequest.objects.get(pk=created["id"]).state == "pending"


def test_the_list_hides_payloads_from_viewers(personas):
    created = _post(_agent(personas.project), "/api/v1/approvals/", BODY).json()
    _post(_agent(personas.other_project), "/api/v1/approvals/", {**BODY, "action": "elsewhere"})
    url = f"/api/v1/projects/{personas.project.slug}/approvals/"
    viewer = _as(personas.viewer).get(url, {"state": "pending"}).json()["results"]
    assert [r["id"] for r in viewer] == [created["id"]]
    assert viewer[0]["payloads_hidden"] and "arguments" not in viewer[0] and "summary" not in viewer[0]
    assert "order" not in str(viewer)
    engineer = _as(personas.engineer).get(url, {"state": "pending"}).json()["results"]
    assert engineer[0]["arguments"] == BODY["arguments"] and engineer[0]["summary"] == "Refund order 7"
    assert _as(personas.engineer).get(url, {"state": "approved"}).json()["results"] == []
    assert _as(personas.engineer).get(url, {"state": "nope"}).json()["field"] == "state"
    assert _as(personas.outsider).get(url).status_code == 404
    assert _agent(personas.project).get(url).status_code == 403


def test_a_person_who_left_the_project_no_longer_reads_their_request(personas):
    engineer = _as(personas.engineer)
    created = _post(engineer, "/api/v1/approvals/", {**BODY, "project": personas.project.slug}).json()
    Membership.objects.filter(project=personas.project, user=personas.engineer).delete()
    for perm in Perm:
        remove_perm(perm.qualified, personas.engineer, personas.project)
    assert engineer.get(f"/api/v1/approvals/{created['id']}/").status_code == 404
    assert services.approvals_expire() == {"expired": 0, "escalated": 0}
