"""/api/v1/projects/<slug>/golden-sets/: the contract, versions, roles, export and import, hostile values."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.goldens.services import case_add, golden_set_create
from agentops.tenancy.services import api_token_create
from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>\u202e=cmd|" /C calc\'!A0'


def _url(project, *rest):
    return "/".join([f"/api/v1/projects/{project.slug}/golden-sets", *map(str, rest), ""])


def _as(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _post(api, url, body):
    return api.post(url, json.dumps(body), content_type="application/json")


def _patch(api, url, body):
    return api.patch(url, json.dumps(body), content_type="application/json")


def test_an_engineer_manages_a_set_and_its_cases_through_versions(personas):
    api, project = _as(personas.engineer), personas.project
    created = _post(api, _url(project), {"name": "checkout-smoke", "description": HOSTILE})
    assert created.status_code == 201, created.json()
    assert created.json() | {"created_at": None, "updated_at": None} == {
        "name": "checkout-smoke",
        "description": HOSTILE,
        "version": 0,
        "current_version": 0,
        "case_count": 0,
        "created_by": personas.engineer.email,
        "created_at": None,
        "updated_at": None,
    }
    trace = make_run(project, AgentTrace(tool_error=True))
    body = {
        "source_trace_id": trace.trace_hex,
        "expected_output": {"status": "shipped"},
        "assertions": [{"type": "tools_called", "tools": ["lookup_order"]}, {"type": "no_error"}],
        "tags": ["failed", HOSTILE],
    }
    added = _post(api, _url(project, "checkout-smoke", "cases"), body)
    assert added.status_code == 201, added.json()
    case = added.json()
    key = case["case_key"]
    assert case["version"] == 1 and case["input"][1]["role"] == "user"
    assert case["source"]["trace_id"] == trace.trace_hex and case["source"]["status"] == "error"
    assert case["tags"] == ["failed", HOSTILE] and case["assertions"][1] == {"type": "no_error"}

    edited = _patch(api, _url(project, "checkout-smoke", "cases", key), {"expected_output": {"status": "lost"}})
    assert edited.status_code == 200 and edited.json()["version"] == 2
    removed = api.delete(_url(project, "checkout-smoke", "cases", key))
    assert removed.status_code == 204 and removed["X-Golden-Set-Version"] == "3"

    now = api.get(_url(project, "checkout-smoke")).json()
    assert (now["version"], now["case_count"], now["changes"]["removed"]) == (3, 0, 1)
    old = api.get(_url(project, "checkout-smoke"), {"version": 1}).json()
    assert (old["version"], old["current_version"], old["case_count"]) == (1, 3, 1)
    assert old["changes"]["note"] == f"added case {key}"
    assert api.get(_url(project, "checkout-smoke", "cases"), {"version": 3}).json()["results"] == []
    v1 = api.get(_url(project, "checkout-smoke", "cases", key), {"version": 1}).json()
    v2 = api.get(_url(project, "checkout-smoke", "cases", key), {"version": 2}).json()
    assert v1["expected_output"] == {"status": "shipped"} and v2["expected_output"] == {"status": "lost"}
    assert api.get(_url(project, "checkout-smoke", "cases", key)).status_code == 404  # removed in v3

    renamed = _patch(api, _url(project, "checkout-smoke"), {"name": "smoke"})
    assert renamed.status_code == 200 and renamed.json()["version"] == 3
    assert api.get(_url(project, "checkout-smoke")).status_code == 404
    assert api.delete(_url(project, "smoke")).status_code == 204
    assert api.get(_url(project)).json() == {"results": []}


def test_errors_name_the_field(personas):
    api, project = _as(personas.engineer), personas.project
    _post(api, _url(project), {"name": "Smoke"})
    duplicate = _post(api, _url(project), {"name": "smoke"})
    assert duplicate.status_code == 409 and "name" in duplicate.json()
    for body, field in [
        ({"name": "../etc"}, "name"),
        ({"name": HOSTILE}, "name"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "owner": "me"}, "owner"),
        ([1, 2], "detail"),
    ]:
        response = _post(api, _url(project), body)
        assert response.status_code == 400 and list(response.json()) == [field], (body, response.json())
    cases = _url(project, "Smoke", "cases")
    for body, field in [
        ({"input": "x", "assertions": [{"type": "no_error"}, {"type": "bogus"}]}, "assertions[1].type"),
        ({"input": "x", "assertions": [{"type": "max_steps", "value": "many"}]}, "assertions[0].value"),
        ({"source_trace_id": "ab" * 16}, "source_trace_id"),
        ({"expected_output": "y"}, "input"),
    ]:
        response = _post(api, cases, body)
        assert response.status_code == 400 and list(response.json()) == [field], (body, response.json())
    assert api.get(_url(project, "Smoke"), {"version": "x"}).status_code == 400
    assert api.get(_url(project, "Smoke"), {"version": "7"}).status_code == 404
    assert api.get(cases, {"limit": "0"}).status_code == 400
    assert api.get(_url(project, "Smoke")).json()["version"] == 0  # nothing bad was stored


def test_viewers_see_names_and_counts_but_no_payloads(personas):
    project = personas.project
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    case = case_add(
        golden_set=golden_set,
        user=personas.engineer,
        data={
            "input": "secret input",
            "expected_output": "secret answer",
            "notes": "secret note",
            "assertions": [{"type": "contains", "value": "secret value", "name": "mentions"}],
            "tags": ["public-tag"],
        },
        payloads=True,
    )
    viewer = _as(personas.viewer)
    listed = viewer.get(_url(project)).json()["results"]
    assert [(s["name"], s["case_count"], s["version"]) for s in listed] == [("smoke", 1, 1)]
    for response in (
        viewer.get(_url(project, "smoke", "cases")),
        viewer.get(_url(project, "smoke", "cases", case.case_key)),
    ):
        assert response.status_code == 200
        text = response.content.decode()
        assert "secret" not in text and "public-tag" in text and '"mentions"' in text
    assert viewer.get(_url(project, "smoke", "export")).status_code == 404
    # Viewers change nothing: every write is 404, as for a project they cannot see.
    assert _post(viewer, _url(project), {"name": "mine"}).status_code == 404
    assert _post(viewer, _url(project, "smoke", "cases"), {"input": "x"}).status_code == 404
    assert _patch(viewer, _url(project, "smoke", "cases", case.case_key), {"input": "x"}).status_code == 404
    assert viewer.delete(_url(project, "smoke")).status_code == 404
    assert (
        viewer.post(_url(project, "smoke", "import"), b'{"input": 1}', content_type="application/x-ndjson").status_code
        == 404
    )
    engineer_view = _as(personas.engineer).get(_url(project, "smoke", "cases", case.case_key)).json()
    assert engineer_view["input"] == "secret input" and engineer_view["notes"] == "secret note"


def test_outsiders_get_404_everywhere(personas):
    project = personas.project
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    key = case_add(golden_set=golden_set, user=None, data={"input": "x"}, payloads=True).case_key
    outsider = _as(personas.outsider)
    for url in (
        _url(project),
        _url(project, "smoke"),
        _url(project, "smoke", "export"),
        _url(project, "smoke", "cases"),
        _url(project, "smoke", "cases", key),
    ):
        assert outsider.get(url).status_code == 404, url
        assert _post(outsider, url, {"name": "x", "input": "x"}).status_code == 404, url
        assert outsider.delete(url).status_code == 404, url
    assert (
        outsider.post(
            _url(project, "smoke", "import"), b'{"input": 1}', content_type="application/x-ndjson"
        ).status_code
        == 404
    )
    # Their own project with the same set name is theirs alone.
    assert _post(outsider, _url(personas.other_project), {"name": "smoke"}).status_code == 201
    assert _as(personas.engineer).get(_url(project, "smoke")).json()["case_count"] == 1


def test_export_and_import_round_trip(personas):
    api, project = _as(personas.engineer), personas.project
    _post(api, _url(project), {"name": "source"})
    for i in range(3):
        body = {"input": {"q": i, "s": HOSTILE}, "expected_output": f"answer {i}", "tags": [f"t{i}"]}
        _post(api, _url(project, "source", "cases"), {**body, "assertions": [{"type": "contains", "value": f"{i}"}]})
    exported = api.get(_url(project, "source", "export"), {"version": 2})
    assert exported.status_code == 200 and exported["Content-Type"] == "application/x-ndjson"
    assert exported["Content-Disposition"] == 'attachment; filename="source-v2.jsonl"'
    lines = b"".join(exported.streaming_content)
    assert len(lines.splitlines()) == 2

    _post(api, _url(project), {"name": "target"})
    imported = api.post(_url(project, "target", "import"), lines, content_type="application/x-ndjson")
    assert imported.status_code == 200, imported.json()
    assert imported.json() == {"version": 1, "added": 2, "edited": 0, "unchanged": 0}

    def cases(name, version):
        results = api.get(_url(project, name, "cases"), {"version": version}).json()["results"]
        return [
            {k: c[k] for k in ("case_key", "input", "expected_output", "assertions", "tags", "notes")} for c in results
        ]

    assert cases("target", 1) == cases("source", 2)
    bad = api.post(_url(project, "target", "import"), b'{"input": 1}\n{"nope": 1}', content_type="application/x-ndjson")
    assert bad.status_code == 400 and list(bad.json()) == ["line 2: nope"]
    assert api.get(_url(project, "target")).json()["version"] == 1


def test_cases_page_with_a_cursor_and_a_constant_number_of_queries(personas):
    api, project = _as(personas.engineer), personas.project
    golden_set = golden_set_create(project=project, user=personas.engineer, data={"name": "big"})
    for i in range(5):
        case_add(golden_set=golden_set, user=personas.engineer, data={"input": i}, payloads=True)
    first = api.get(_url(project, "big", "cases"), {"limit": 2}).json()
    assert [c["input"] for c in first["results"]] == [0, 1] and first["next"]
    second = api.get(first["next"]).json()
    assert [c["input"] for c in second["results"]] == [2, 3]
    last = api.get(second["next"]).json()
    assert [c["input"] for c in last["results"]] == [4] and last["next"] is None

    with CaptureQueriesContext(connection) as few:
        api.get(_url(project, "big", "cases"), {"limit": 1})
    with CaptureQueriesContext(connection) as many:
        api.get(_url(project, "big", "cases"))
    assert len(many) == len(few)
    golden_set_create(project=project, user=None, data={"name": "more"})
    with CaptureQueriesContext(connection) as sets:
        assert len(api.get(_url(project)).json()["results"]) == 2
    golden_set_create(project=project, user=None, data={"name": "most"})
    with CaptureQueriesContext(connection) as more_sets:
        assert len(api.get(_url(project)).json()["results"]) == 3
    assert len(sets) == len(more_sets)


def test_the_openapi_schema_describes_the_endpoints(client):
    schema = client.get(reverse("api_schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    base = "/api/v1/projects/{slug}/golden-sets/"
    assert set(schema["paths"][base]) >= {"get", "post"}
    assert set(schema["paths"][base + "{set_name}/cases/{case_key}/"]) >= {"get", "patch", "delete"}
    assert "post" in schema["paths"][base + "{set_name}/import/"]
    assert "get" in schema["paths"][base + "{set_name}/export/"]
