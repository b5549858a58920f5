"""/api/v1/projects/<slug>/alert-rules/: the contract, 400 naming the field, and who may do what."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agentops.alerts.models import AlertRule
from agentops.notify.services import channel_create
from agentops.tenancy.services import api_token_create
from tests.agentops.alerts.alert_factories import make_rule

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'


def _url(project, *rest):
    return "/".join([f"/api/v1/projects/{project.slug}/alert-rules", *map(str, rest), ""])


def _as(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def test_the_list_has_the_defaults_and_the_catalogue(personas):
    response = _as(personas.viewer).get(_url(personas.project))
    assert response.status_code == 200
    body = response.json()
    assert [(r["name"], r["is_default"]) for r in body["results"]] == [
        ("Drift of new bundles", True),
        ("Error rate", True),
    ]
    error_rate = body["results"][1]
    assert error_rate["metric"] == "error_rate" and error_rate["warning"] == 0.1 and error_rate["live_alerts"] == 0
    assert {m["name"] for m in body["metrics"]["threshold"]} >= {"error_rate", "latency_p95_ms", "runs"}
    assert [m["name"] for m in body["metrics"]["budget"]] == ["cost_usd"]
    assert "duration_ms" in body["drift_metrics"]


def test_an_engineer_creates_reads_changes_and_deletes_a_rule(personas):
    api = _as(personas.engineer)
    channel = channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/x").channel
    body = {
        "name": HOSTILE,
        "kind": "threshold",
        "metric": "latency_p95_ms",
        "scope": {"agent": HOSTILE, "environment": "production"},
        "warning": 2000,
        "critical": 5000,
        "channels": [channel.pk],
    }
    response = api.post(_url(personas.project), body, content_type="application/json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["name"] == HOSTILE and created["scope"] == {"agent": HOSTILE, "environment": "production"}
    assert created["channels"] == [channel.pk] and created["window_minutes"] == 60 and created["enabled"] is True
    rule_url = _url(personas.project, created["id"])
    assert api.get(rule_url).json() == created

    response = api.patch(rule_url, {"critical": 8000, "enabled": False}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert (response.json()["critical"], response.json()["enabled"], response.json()["warning"]) == (8000, False, 2000)

    assert api.delete(rule_url).status_code == 204
    assert api.get(rule_url).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "threshold", "metric": "latency_p95_ms", "warning": 1, "colour": 1}, "colour"),
        ({"name": "x", "kind": "threshold", "metric": "cost_usd"}, "warning"),
        ({"name": "x", "kind": "threshold", "metric": "nope", "warning": 1}, "metric"),
        ({"name": "x", "kind": "budget", "params": {"period": "day"}}, "params.limit_usd"),
        (
            {"name": "x", "kind": "budget", "params": {"limit_usd": 5, "period": "day", "timezone": "X/Y"}},
            "params.timezone",
        ),
        ({"kind": "threshold", "metric": "runs", "warning": 1}, "name"),
    ],
)
def test_a_bad_field_is_400_naming_it(personas, body, field):
    before = AlertRule.objects.count()
    response = _as(personas.engineer).post(_url(personas.project), body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert AlertRule.objects.count() == before


def test_a_bad_patch_is_400_and_changes_nothing(personas):
    rule = make_rule(personas.project, warning=0.1, critical=0.3)
    api = _as(personas.admin)
    response = api.patch(_url(personas.project, rule.pk), {"warning": 0.9}, content_type="application/json")
    assert response.status_code == 400 and "critical" in response.json()
    response = api.patch(_url(personas.project, rule.pk), ["warning"], content_type="application/json")
    assert response.status_code == 400
    rule.refresh_from_db()
    assert rule.warning == 0.1


def test_a_viewer_reads_but_cannot_write(personas):
    rule = make_rule(personas.project)
    api = _as(personas.viewer)
    assert api.get(_url(personas.project, rule.pk)).status_code == 200
    body = {"name": "x", "kind": "threshold", "metric": "runs", "warning": 1}
    assert api.post(_url(personas.project), body, content_type="application/json").status_code == 404
    assert api.patch(_url(personas.project, rule.pk), {"name": "y"}, content_type="application/json").status_code == 404
    assert api.delete(_url(personas.project, rule.pk)).status_code == 404
    assert AlertRule.objects.filter(pk=rule.pk, name=rule.name).exists()


def test_outsiders_and_other_projects_rules_get_404(personas):
    rule = make_rule(personas.project)
    foreign = make_rule(personas.other_project)
    outsider = _as(personas.outsider)
    assert outsider.get(_url(personas.project)).status_code == 404
    assert outsider.get(_url(personas.project, rule.pk)).status_code == 404
    assert outsider.delete(_url(personas.project, rule.pk)).status_code == 404
    admin = _as(personas.admin)
    assert admin.get(_url(personas.project, foreign.pk)).status_code == 404
    assert (
        admin.patch(_url(personas.project, foreign.pk), {"name": "y"}, content_type="application/json").status_code
        == 404
    )
    assert admin.delete(_url(personas.project, foreign.pk)).status_code == 404
    assert AlertRule.objects.filter(pk__in=[rule.pk, foreign.pk]).count() == 2


def _list_queries(api, project):
    with CaptureQueriesContext(connection) as queries:
        assert api.get(_url(project)).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_whatever_the_number_of_rules(personas):
    api = _as(personas.viewer)
    channel = channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/x").channel
    make_rule(personas.project, channels=[channel.pk])
    api.get(_url(personas.project))  # the token's first use is recorded once: not part of the page
    one = _list_queries(api, personas.project)
    for _ in range(4):
        make_rule(personas.project, channels=[channel.pk])
    assert _list_queries(api, personas.project) == one
