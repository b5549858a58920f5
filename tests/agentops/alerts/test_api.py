"""GET /api/v1/projects/<slug>/canary/: the verdict of a candidate bundle against its baseline."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from agentops.agents.services import bundles_record
from agentops.tenancy import services
from tests.agentops.alerts.runs import AGENT, seed

pytestmark = pytest.mark.django_db

KEYS = {
    "name",
    "verdict",
    "baseline_n",
    "candidate_n",
    "baseline_value",
    "candidate_value",
    "effect",
    "p_value",
    "reason",
}


def canary(client: Client, project: Any, user: Any, **params: str):
    token = services.api_token_create(user=user).secret
    return client.get(
        f"/api/v1/projects/{project.slug}/canary/",
        {"agent": AGENT, **params},
        headers={"Authorization": f"Bearer {token}"},
    )


def metric(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in body["metrics"] if m["name"] == name)


def test_a_candidate_like_its_baseline_passes(client, personas):
    seed(personas.project, "v1", 36, hours_ago=5)
    seed(personas.project, "v2", 36, hours_ago=2)
    bundles_record()

    response = canary(client, personas.project, personas.viewer, candidate="v2")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["verdict"], body["score"], body["baseline"], body["candidate"]) == ("pass", 1.0, "v1", "v2")
    assert {m["name"] for m in body["metrics"]} >= {
        "error_rate", "unfinished_rate", "duration_ms", "cost_usd", "tokens", "steps", "llm_calls", "tool_calls",
        "tool_errors", "unpriced_steps", "tool.lookup_order.calls", "tool.lookup_order.error_rate",
    }  # fmt: skip
    assert all(set(m) == KEYS for m in body["metrics"])
    assert (metric(body, "error_rate")["baseline_n"], metric(body, "error_rate")["candidate_n"]) == (36, 36)
    assert canary(client, personas.project, personas.viewer, candidate="v2", gate="1").status_code == 200


def test_a_regressed_candidate_fails_and_the_gate_answers_412(client, personas):
    seed(personas.project, "v1", 35, hours_ago=5)
    seed(personas.project, "v2", 35, hours_ago=2, regressed=True)
    bundles_record()

    body = canary(client, personas.project, personas.viewer, candidate="v2").json()
    gated = canary(client, personas.project, personas.viewer, candidate="v2", gate="1")

    assert body["verdict"] == "fail"
    errors = metric(body, "error_rate")
    assert (errors["verdict"], errors["baseline_value"], errors["candidate_value"]) == ("fail", 0.0, 0.4)
    assert errors["p_value"] < 0.001 and "Fisher" in errors["reason"]
    assert metric(body, "llm_calls")["verdict"] == "fail"
    assert metric(body, "tool_errors")["verdict"] == "fail"  # zero-heavy: the baseline has none
    assert gated.status_code == 412
    assert gated.json()["verdict"] == "fail"


def test_too_few_runs_is_inconclusive(client, personas):
    seed(personas.project, "v1", 10, hours_ago=5)
    seed(personas.project, "v2", 10, hours_ago=2)
    bundles_record()

    response = canary(client, personas.project, personas.viewer, candidate="v2")
    gated = canary(client, personas.project, personas.viewer, candidate="v2", gate="1")

    assert response.json()["verdict"] == "inconclusive"
    assert "too few runs" in response.json()["reason"]
    assert gated.status_code == 412


def test_an_explicit_baseline_and_a_window(client, personas):
    seed(personas.project, "v1", 12, hours_ago=5)
    seed(personas.project, "v2", 12, hours_ago=2)
    # Not recorded yet: the names are known from the runs, the baseline must be given.
    unknown_baseline = canary(client, personas.project, personas.viewer, candidate="v2").json()
    explicit = canary(client, personas.project, personas.viewer, candidate="v2", baseline="v1").json()
    windowed = canary(
        client, personas.project, personas.viewer, candidate="v2", baseline="v1", since="2099-01-01T00:00:00Z"
    ).json()

    assert (unknown_baseline["verdict"], unknown_baseline["baseline"]) == ("inconclusive", None)
    assert "no baseline known" in unknown_baseline["reason"]
    assert (explicit["baseline"], explicit["baseline_n"], explicit["candidate_n"]) == ("v1", 12, 12)
    assert (windowed["baseline_n"], windowed["candidate_n"], windowed["since"]) == (0, 0, "2099-01-01T00:00:00+00:00")


def test_the_default_baseline_compares_within_its_environment(client, personas):
    seed(personas.project, "v1", 4, hours_ago=5)
    seed(personas.project, "v2", 3, hours_ago=2)
    seed(personas.project, "v2", 2, hours_ago=1, environment="staging")  # v2's first staging bundle: no baseline
    bundles_record()

    default = canary(client, personas.project, personas.viewer, candidate="v2").json()
    by_name = canary(client, personas.project, personas.viewer, candidate="v2", baseline="v1").json()
    staging = canary(client, personas.project, personas.viewer, candidate="v2", environment="staging").json()

    assert (default["baseline"], default["environment"], default["candidate_n"]) == ("v1", "prod", 3)
    assert (by_name["environment"], by_name["candidate_n"]) == (None, 5)
    assert (staging["baseline"], staging["verdict"]) == (None, "inconclusive")


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"agent": "nobody", "candidate": "v1"}, 404, "no agent named 'nobody'"),
        ({"candidate": "v9"}, 404, "has no bundle 'v9'"),
        ({"candidate": "v1", "baseline": "v9"}, 404, "has no bundle 'v9'"),
        ({"candidate": "v1", "baseline": "v1"}, 400, "the same bundle"),
        ({"agent": ""}, 400, "missing parameter: agent, candidate"),
        ({}, 400, "missing parameter: candidate"),
        ({"candidate": "v1", "since": "yesterday"}, 400, "since must be an ISO 8601 date-time"),
        ({"candidate": "v1", "since": "2026-01-01T00:00:00"}, 400, "with a time zone"),
    ],
)
def test_bad_requests_say_what_is_wrong(client, personas, params, status, message):
    seed(personas.project, "v1", 1, hours_ago=1)

    response = canary(client, personas.project, personas.viewer, **params)

    assert response.status_code == status
    assert message in response.json()["detail"]


def test_outsiders_and_strangers_get_nothing(client, personas):
    seed(personas.project, "v1", 3, hours_ago=2)
    seed(personas.project, "v2", 3, hours_ago=1)

    outsider = canary(client, personas.project, personas.outsider, candidate="v2", baseline="v1")
    anonymous = client.get(f"/api/v1/projects/{personas.project.slug}/canary/", {"agent": AGENT, "candidate": "v2"})
    # The outsider's own project has no such agent: nothing of the other tenant's leaks through names.
    own = canary(client, personas.other_project, personas.outsider, candidate="v2")

    assert outsider.status_code == 404
    assert "v1" not in outsider.content.decode() and AGENT not in outsider.content.decode()
    assert anonymous.status_code == 401
    assert own.status_code == 404
