"""/api/v1/projects/<slug>/golden-review/: the queue, accepting into a new version, discarding, roles."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentops.goldens.models import GoldenCase, GoldenSetVersion, ReviewItem
from agentops.goldens.rules import rule_create
from agentops.goldens.rules_sampling import rules_advance
from agentops.goldens.services import golden_set_create
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import api_token_create
from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db


def _url(project, *rest, slash=True):
    return "/".join([f"/api/v1/projects/{project.slug}/golden-review", *map(str, rest)]) + ("/" if slash else "")


def _as(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _post(api, url, body=None):
    return api.post(url, json.dumps(body or {}), content_type="application/json")


def _queue(personas, runs=2, **rule):
    golden_set_create(project=personas.project, user=personas.engineer, data={"name": "prod"})
    body = {"name": "failures", "golden_set": "prod", "sample_rate": 100, "filter": "status=error", **rule}
    created = rule_create(project=personas.project, user=personas.engineer, data=body)
    traces = [make_run(personas.project, AgentTrace(tool_error=True)) for _ in range(runs)]
    rules_advance(now=timezone.now() + timedelta(minutes=5))
    return created, traces


def test_the_queue_lists_pending_runs_with_their_run(personas):
    rule, traces = _queue(personas)
    page = _as(personas.engineer).get(_url(personas.project)).json()
    assert [i["trace_id"] for i in page["results"]] == [t.trace_hex for t in traces]
    item = page["results"][0]
    assert item["state"] == "pending" and item["rule"] == {"id": rule.pk, "name": "failures"}
    assert item["golden_set"] == "prod" and item["case_key"] is None
    assert item["run"]["agent"] == "support-bot" and item["run"]["status"] == "error"
    assert "Where is order" in item["run"]["input_preview"]
    # Filters and paging.
    api = _as(personas.engineer)
    first = api.get(_url(personas.project), {"limit": 1}).json()
    assert len(first["results"]) == 1 and first["next"]
    second = api.get(first["next"]).json()
    assert [i["trace_id"] for i in second["results"]] == [traces[1].trace_hex] and second["next"] is None
    assert api.get(_url(personas.project), {"state": "accepted"}).json()["results"] == []
    assert len(api.get(_url(personas.project), {"state": "all", "rule": rule.pk}).json()["results"]) == 2
    assert api.get(_url(personas.project), {"rule": rule.pk + 1}).json()["results"] == []
    bad = api.get(_url(personas.project), {"state": "maybe"})
    assert bad.status_code == 400 and list(bad.json()) == ["state"]


def test_a_viewer_sees_no_payloads_and_cannot_decide(personas):
    _queue(personas, runs=1)
    viewer = _as(personas.viewer)
    item = viewer.get(_url(personas.project)).json()["results"][0]
    assert item["run"]["agent"] == "support-bot"
    assert "input_preview" not in item["run"] and "output_preview" not in item["run"]
    assert "Where is order" not in json.dumps(item)
    for action in ("accept", "discard"):
        assert _post(viewer, _url(personas.project, item["id"], action, slash=False)).status_code == 404
    assert ReviewItem.objects.get().state == "pending"


def test_accepting_adds_a_reviewed_case_in_one_new_version(personas):
    rule, traces = _queue(personas, runs=1)
    item = ReviewItem.objects.get()
    body = {
        "expected_output": {"status": "shipped"},
        "assertions": [{"type": "tools_called", "tools": ["lookup_order"]}],
        "tags": ["sampled"],
        "notes": "a real failure",
    }
    response = _post(_as(personas.reviewer), _url(personas.project, item.pk, "accept", slash=False), body)
    assert response.status_code == 201, response.json()
    case = response.json()
    assert case["version"] == 1 and case["golden_set"] == "prod"
    assert case["reviewed_by"] == personas.reviewer.email and case["added_by"] == personas.reviewer.email
    assert case["expected_output"] == {"status": "shipped"} and case["tags"] == ["sampled"]
    assert case["source"]["trace_id"] == traces[0].trace_hex and case["input"][1]["role"] == "user"
    stored = GoldenCase.objects.get()
    assert stored.reviewed_by == personas.reviewer and stored.notes == "a real failure"
    assert GoldenSetVersion.objects.filter(golden_set=rule.golden_set).count() == 1
    item.refresh_from_db()
    assert (item.state, item.case, item.decided_by) == ("accepted", stored, personas.reviewer)
    assert item.decided_at is not None
    listed = _as(personas.viewer).get(_url(personas.project), {"state": "accepted"}).json()["results"]
    assert listed[0]["case_key"] == stored.case_key and listed[0]["decided_by"] == personas.reviewer.email
    assert AuditEvent.objects.filter(project=personas.project, action="golden_review.accept").count() == 1

    # Decided once: a second accept, or a discard, is 409 and adds nothing.
    again = _post(_as(personas.engineer), _url(personas.project, item.pk, "accept", slash=False))
    assert (again.status_code, list(again.json())) == (409, ["state"])
    assert _post(_as(personas.engineer), _url(personas.project, item.pk, "discard", slash=False)).status_code == 409
    assert GoldenCase.objects.count() == 1


def test_a_bad_accept_is_400_naming_the_field_and_leaves_the_item_pending(personas):
    _queue(personas, runs=1)
    item = ReviewItem.objects.get()
    url = _url(personas.project, item.pk, "accept", slash=False)
    api = _as(personas.engineer)
    bad = _post(api, url, {"assertions": [{"type": "telepathy"}]})
    assert bad.status_code == 400 and list(bad.json()) == ["assertions[0].type"]
    unknown = _post(api, url, {"source_trace_id": "00" * 16})
    assert unknown.status_code == 400 and list(unknown.json()) == ["source_trace_id"]
    item.refresh_from_db()
    assert item.state == "pending" and not GoldenCase.objects.exists()


def test_discarding(personas):
    _queue(personas, runs=1)
    item = ReviewItem.objects.get()
    response = _post(_as(personas.engineer), _url(personas.project, item.pk, "discard", slash=False))
    assert response.status_code == 200 and response.json()["state"] == "discarded"
    item.refresh_from_db()
    assert (item.state, item.decided_by, item.case) == ("discarded", personas.engineer, None)
    assert not GoldenCase.objects.exists()
    assert _as(personas.engineer).get(_url(personas.project)).json()["results"] == []


def test_outsiders_and_other_projects_items_are_404(personas):
    _queue(personas, runs=1)
    item = ReviewItem.objects.get()
    outsider = _as(personas.outsider)
    assert outsider.get(_url(personas.project)).status_code == 404
    for project in (personas.project, personas.other_project):
        for action in ("accept", "discard"):
            assert _post(outsider, _url(project, item.pk, action, slash=False)).status_code == 404
    # The outsider's own queue does not hold it.
    assert outsider.get(_url(personas.other_project)).json()["results"] == []
    item.refresh_from_db()
    assert item.state == "pending"


def test_a_page_of_the_queue_costs_the_same_queries_for_one_item_or_many(personas):
    _queue(personas, runs=1)
    api = _as(personas.viewer)
    api.get(_url(personas.project))  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(_url(personas.project)).json()["results"]) == 1
    for _ in range(5):
        make_run(personas.project, AgentTrace(tool_error=True))
    rules_advance(now=timezone.now() + timedelta(minutes=5))
    with CaptureQueriesContext(connection) as six:
        assert len(api.get(_url(personas.project)).json()["results"]) == 6
    assert len(six) == len(one)


def test_the_openapi_schema_describes_the_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    base = "/api/v1/projects/{slug}/"
    assert set(schema["paths"][base + "golden-rules/"]) >= {"get", "post"}
    assert set(schema["paths"][base + "golden-rules/{golden_rule_id}/"]) >= {"get", "patch", "delete"}
    assert "get" in schema["paths"][base + "golden-review/"]
    assert "post" in schema["paths"][base + "golden-review/{review_id}/accept"]
    assert "post" in schema["paths"][base + "golden-review/{review_id}/discard"]
