"""/api/v1/projects/<slug>/budgets/ (admins) and /api/v1/budgets/ (agents): the contract, who may call
what, and that another project's key or another key gets 404."""

from __future__ import annotations

import pytest
from django.test import Client

from agentops.budgets.models import Budget, Reservation
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import api_token_create, ingest_key_create

pytestmark = pytest.mark.django_db


def _bearer(secret):
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _as(user):
    return _bearer(api_token_create(user=user).secret)


def _agent(project):
    return _bearer(ingest_key_create(project=project).secret)


def _post(client, url, body=None):
    return client.post(url, body if body is not None else {}, content_type="application/json")


def _budgets(project):
    return f"/api/v1/projects/{project.slug}/budgets/"


RESERVE = "/api/v1/budgets/reserve/"


def _reserve(agent, amount, **extra):
    response = _post(agent, RESERVE, {"estimate_usd": amount, **extra})
    assert response.status_code in (200, 201), response.json()
    return response.json()


def test_an_admin_creates_lists_changes_and_deletes_a_budget(personas):
    admin = _as(personas.admin)
    body = {
        "scope": {"customer": "acme"},
        "limit_usd": 100.0,
        "window": "month",
        "timezone": "America/Los_Angeles",
        "soft_percent": [80, 50],
        "hard": True,
    }
    response = _post(admin, _budgets(personas.project), body)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["scope"] == {"customer": "acme"} and created["limit_usd"] == 100.0
    assert created["soft_percent"] == [50.0, 80.0] and created["window"] == "month" and created["hard"] is True
    assert (created["spent_usd"], created["held_usd"], created["remaining_usd"]) == (0.0, 0.0, 100.0)
    assert created["resets_at"].endswith(("-07:00", "-08:00")) and created["created_by"] == personas.admin.email
    listed = admin.get(_budgets(personas.project)).json()["results"]
    assert [b["id"] for b in listed] == [created["id"]]
    url = f"{_budgets(personas.project)}{created['id']}/"
    changed = admin.patch(url, {"limit_usd": 5, "window": "rolling:24"}, content_type="application/json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["limit_usd"] == 5.0 and changed.json()["resets_at"] is None
    assert admin.get(url).json()["window"] == "rolling:24"
    assert admin.delete(url).status_code == 204
    assert not Budget.objects.exists()
    actions = list(AuditEvent.objects.filter(project=personas.project).values_list("action", flat=True))
    assert {"budget.create", "budget.update", "budget.delete"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"window": "day"}, "limit_usd"),
        ({"limit_usd": 1}, "window"),
        ({"limit_usd": 0, "window": "day"}, "limit_usd"),
        ({"limit_usd": "lots", "window": "day"}, "limit_usd"),
        ({"limit_usd": 1, "window": "year"}, "window"),
        ({"limit_usd": 1, "window": "day", "timezone": "Mars/Olympus"}, "timezone"),
        ({"limit_usd": 1, "window": "day", "soft_percent": [120]}, "soft_percent"),
        ({"limit_usd": 1, "window": "day", "scope": {"team": "a"}}, "scope"),
        ({"limit_usd": 1, "window": "day", "scope": {"agent": "a", "customer": "b"}}, "scope"),
        ({"limit_usd": 1, "window": "day", "hard": "yes"}, "hard"),
        ({"limit_usd": 1, "window": "day", "limit_tokens": -3}, "limit_tokens"),
        ({"limit_usd": 1, "window": "day", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_budget_is_400_naming_the_field_and_stores_nothing(personas, body, field):
    response = _post(_as(personas.admin), _budgets(personas.project), body)
    assert response.status_code == 400 and response.json()["field"] == field, response.json()
    assert not Budget.objects.exists()


def test_only_admins_of_the_project_see_budgets(personas):
    response = _post(_as(personas.admin), _budgets(personas.project), {"limit_usd": 1, "window": "day"})
    url = f"{_budgets(personas.project)}{response.json()['id']}/"
    for user in (personas.reviewer, personas.viewer, personas.outsider):
        assert _as(user).get(_budgets(personas.project)).status_code == 404
        assert _as(user).get(url).status_code == 404
        assert _as(user).delete(url).status_code == 404
    # Another project's budget under one's own slug is 404 even for its admin.
    assert _as(personas.outsider).get(f"{_budgets(personas.other_project)}{response.json()['id']}/").status_code == 404
    assert Budget.objects.count() == 1
    # An ingest key reads no budget.
    assert _agent(personas.project).get(_budgets(personas.project)).status_code == 403


def _budget(project, admin, **body):
    response = _post(_as(admin), _budgets(project), {"window": "day", **body})
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_a_hard_budget_allows_what_fits_and_refuses_the_rest(personas):
    project_budget = _budget(personas.project, personas.admin, limit_usd=1.0)
    customer_budget = _budget(personas.project, personas.admin, limit_usd=0.5, scope={"customer": "acme"})
    other_customer = _budget(personas.project, personas.admin, limit_usd=0.01, scope={"customer": "globex"})
    agent = _agent(personas.project)
    first = _post(agent, RESERVE, {"scope": {"customer": "acme", "agent": "bot"}, "estimate_usd": 0.3, "ttl": 60})
    assert first.status_code == 201, first.json()
    answer = first.json()
    assert answer["allowed"] is True and isinstance(answer["reservation"], int) and answer["reason"] is None
    remaining = {r["budget"]: r for r in answer["remaining"]}
    assert set(remaining) == {project_budget, customer_budget}  # not globex's
    assert remaining[customer_budget]["scope"] == {"customer": "acme"}
    assert remaining[customer_budget]["remaining_usd"] == pytest.approx(0.2)
    assert remaining[project_budget]["remaining_usd"] == pytest.approx(0.7)
    refused = _reserve(agent, 0.3, scope={"customer": "acme"})
    assert refused["allowed"] is False and refused["reservation"] is None
    assert f"budget {customer_budget}" in refused["reason"]
    assert Reservation.objects.count() == 1  # a refusal without an idempotency_key stores nothing
    # Another customer is limited by the project's budget only (and its own).
    assert _reserve(agent, 0.3, scope={"customer": "initech"})["allowed"] is True
    assert _reserve(agent, 0.5, scope={"customer": "initech"})["allowed"] is False
    assert other_customer not in {r["budget"] for r in refused["remaining"]}
    shown = _as(personas.admin).get(f"{_budgets(personas.project)}{project_budget}/").json()
    assert shown["held_usd"] == pytest.approx(0.6) and shown["spent_usd"] == 0.0
    assert shown["remaining_usd"] == pytest.approx(0.4)


def test_a_soft_budget_never_refuses(personas):
    _budget(personas.project, personas.admin, limit_usd=0.1, hard=False)
    assert _reserve(_agent(personas.project), 5)["allowed"] is True


def test_model_and_max_tokens_are_priced_by_agentops(personas):
    budget = _budget(personas.project, personas.admin, limit_usd=1.0)
    answer = _post(_agent(personas.project), RESERVE, {"model": "gpt-4o", "max_tokens": 10_000}).json()
    # gpt-4o: $10 per million output tokens.
    assert answer["allowed"] and answer["remaining"] == [
        {"budget": budget, "scope": {}, "remaining_usd": pytest.approx(0.9)}
    ]
    unknown = _post(_agent(personas.project), RESERVE, {"model": "no-such-model-xyz", "max_tokens": 10})
    assert unknown.status_code == 400 and unknown.json()["field"] == "model"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "estimate_usd"),
        ({"estimate_usd": -1}, "estimate_usd"),
        ({"estimate_usd": 1, "model": "gpt-4o", "max_tokens": 5}, "estimate_usd"),
        ({"model": "gpt-4o"}, "max_tokens"),
        ({"estimate_usd": 1, "scope": {"team": "x"}}, "scope"),
        ({"estimate_usd": 1, "scope": "acme"}, "scope"),
        ({"estimate_usd": 1, "run_id": "XYZ"}, "run_id"),
        ({"estimate_usd": 1, "ttl": 0}, "ttl"),
        ({"estimate_usd": 1, "idempotency_key": ""}, "idempotency_key"),
        ({"estimate_usd": 1, "project": "x"}, "project"),
    ],
)
def test_a_bad_reserve_is_400_naming_the_field(personas, body, field):
    response = _post(_agent(personas.project), RESERVE, body)
    assert response.status_code == 400 and response.json()["field"] == field, response.json()
    assert not Reservation.objects.exists()


def test_reserve_is_idempotent_allowed_or_refused(personas):
    _budget(personas.project, personas.admin, limit_usd=1.0)
    agent = _agent(personas.project)
    first = _post(agent, RESERVE, {"estimate_usd": 0.6, "idempotency_key": "call-1"})
    again = _post(agent, RESERVE, {"estimate_usd": 0.6, "idempotency_key": "call-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["reservation"] == first.json()["reservation"] and again.json()["allowed"] is True
    assert Reservation.objects.filter(state="held").count() == 1
    refused = _reserve(agent, 0.6, idempotency_key="call-2")
    assert refused["allowed"] is False
    # The room comes back, but the retry answers as the first call did.
    _post(agent, f"/api/v1/budgets/reservations/{first.json()['reservation']}/release/")
    retried = _reserve(agent, 0.6, idempotency_key="call-2")
    assert retried["allowed"] is False and retried["reason"] == refused["reason"]
    # Another key of the project cannot take over the idempotency key.
    stolen = _post(_agent(personas.project), RESERVE, {"estimate_usd": 0.1, "idempotency_key": "call-1"})
    assert stolen.status_code == 409 and stolen.json()["field"] == "idempotency_key"


def test_commit_and_release_by_the_creating_key_only(personas):
    _budget(personas.project, personas.admin, limit_usd=1.0)
    agent = _agent(personas.project)
    reservation = _reserve(agent, 0.5)["reservation"]
    commit = f"/api/v1/budgets/reservations/{reservation}/commit/"
    release = f"/api/v1/budgets/reservations/{reservation}/release/"
    for stranger in (_agent(personas.project), _agent(personas.other_project)):
        assert _post(stranger, commit, {"actual_usd": 0.1}).status_code == 404
        assert _post(stranger, release).status_code == 404
    assert _post(_as(personas.admin), commit).status_code == 403  # a person's token: not for agents
    assert Reservation.objects.get().state == "held"
    done = _post(agent, commit, {"actual_usd": 0.2})
    assert done.status_code == 200 and done.json()["state"] == "committed" and done.json()["actual_usd"] == 0.2
    assert _post(agent, commit, {"actual_usd": 0.2}).status_code == 200  # idempotent
    assert _post(agent, commit).status_code == 200
    conflict = _post(agent, commit, {"actual_usd": 0.3})
    assert conflict.status_code == 409 and conflict.json()["field"] == "actual_usd"
    assert _post(agent, release).status_code == 409
    # The committed actual counts, not the estimate: 0.8 left.
    assert _reserve(agent, 0.8)["allowed"] is True
    assert _reserve(agent, 0.01)["allowed"] is False
    assert _post(agent, "/api/v1/budgets/reservations/999999/commit/").status_code == 404


def test_a_person_cannot_reserve(personas):
    assert _post(_as(personas.admin), RESERVE, {"estimate_usd": 1}).status_code == 403
    assert Client().post(RESERVE, {"estimate_usd": 1}, content_type="application/json").status_code == 401


def test_the_issue_paths_without_a_trailing_slash_are_served(personas):
    """The contract spells them `POST /api/v1/budgets/reserve` and `.../reservations/<id>/commit`: a POST
    cannot follow a redirect to the slashed path, so both must answer."""
    _budget(personas.project, personas.admin, limit_usd=1.0)
    agent = _agent(personas.project)
    reserved = _post(agent, "/api/v1/budgets/reserve", {"estimate_usd": 0.25, "idempotency_key": "k1"})
    assert reserved.status_code in (200, 201) and reserved.json()["allowed"] is True, reserved.content
    reservation = reserved.json()["reservation"]
    committed = _post(agent, f"/api/v1/budgets/reservations/{reservation}/commit", {"actual_usd": 0.2})
    assert committed.status_code == 200 and committed.json()["state"] == "committed"
    other = _reserve(agent, 0.1)["reservation"]
    released = _post(agent, f"/api/v1/budgets/reservations/{other}/release")
    assert released.status_code == 200 and released.json()["state"] == "released"
