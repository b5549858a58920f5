"""/api/v1/projects/<slug>/eval-runs/: a full eval flow on real stored runs, roles, outsiders, payloads."""

from __future__ import annotations

import json
import os

import pytest

from agentops.goldens.eval_models import EvalRun
from agentops.goldens.services import case_add, golden_set_create
from agentops.tenancy.services import api_token_create
from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>=cmd|" /C calc'
ASSERTIONS = [
    {"type": "equals", "value": "shipped"},
    {"type": "tools_called", "tools": ["lookup_order"], "arguments": [{"order": 100}]},
    {"type": "no_error"},
]


def _url(project, *rest):
    return "/".join([f"/api/v1/projects/{project.slug}/eval-runs", *map(str, rest), ""])


def _client(user):
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _post(api, url, body):
    return api.post(url, json.dumps(body), content_type="application/json")


def _set(project, cases=2):
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    keys = []
    for i in range(cases):
        data = {"input": {"question": f"where is order {i}?"}, "assertions": ASSERTIONS}
        keys.append(case_add(golden_set=golden_set, user=None, data=data, payloads=True).case_key)
    return golden_set, keys


def _start(api, project, **body):
    answer = _post(api, _url(project), {"set": "smoke", "bundle": "v1", **body})
    assert answer.status_code == 201, answer.json()
    return answer.json()


def _agent_runs(project, outputs, **trace):
    """One real stored run per case (through the ingest pipeline) and the result the CLI would send."""
    results = []
    for key, output in outputs.items():
        run = make_run(project, AgentTrace(**trace))
        results.append({"case_key": key, "attempt": 1, "output": output, "trace_id": run.trace_hex})
    return results


def test_a_bundle_is_scored_on_its_stored_runs_and_a_regression_against_the_baseline_fails_naming_why(personas):
    project, api = personas.project, _client(personas.engineer)
    _, (first, second) = _set(project)

    started = _start(api, project, gate={"accuracy.tools_called": 0.9})
    assert started["state"] == "open" and started["version"] == 2
    assert started["cases"] == [
        {"case_key": first, "input": {"question": "where is order 0?"}},
        {"case_key": second, "input": {"question": "where is order 1?"}},
    ]
    assert started["gate"] == {"accuracy": {"tools_called": 0.9}}
    base = started["id"]
    submitted = _post(api, _url(project, base, "results"), _agent_runs(project, {first: "shipped", second: "Shipped"}))
    assert submitted.json() == {"received": 2, "submitted": 2, "expected": 2}
    scored = _post(api, _url(project, base, "score"), {})
    assert scored.status_code == 200, scored.json()
    done = scored.json()
    assert (done["state"], done["verdict"], done["reasons"]) == ("done", "fail", done["reasons"])
    # "Shipped" is not "shipped": equals is case-sensitive unless asked.
    assert [r.get("case_key") for r in done["reasons"]] == [None, second]
    assert done["reasons"][1]["assertion"] == "equals" and "'Shipped'" in done["reasons"][1]["detail"]
    assert done["metrics"]["accuracy"] == {"equals": 0.5, "no_error": 1.0, "tools_called": 1.0}
    attempt = done["cases"][0]["attempts"][0]
    assert attempt["passed"] is True and attempt["latency_ms"] > 0 and attempt["cost_usd"] > 0
    assert attempt["run_url"].endswith(f"/p/{project.slug}/runs/{attempt['trace_id']}/")
    assert [o["status"] for o in attempt["outcomes"]] == ["passed", "passed", "passed"]

    # A clean baseline of v1, then v2: an error in the lookup tool and a wrong answer on the first case.
    clean = _start(api, project)["id"]
    _post(api, _url(project, clean, "results"), _agent_runs(project, {first: "shipped", second: "shipped"}))
    assert _post(api, _url(project, clean, "score"), {}).json()["verdict"] == "pass"
    v2 = _start(api, project, bundle="v2", baseline="v1")["id"]
    results = _agent_runs(project, {first: "lost"}) + _agent_runs(project, {second: "shipped"}, tool_error=True)
    _post(api, _url(project, v2, "results"), results)
    regressed = _post(api, _url(project, v2, "score"), {}).json()
    assert regressed["verdict"] == "fail" and regressed["baseline_eval_run"] == clean
    flipped = [r for r in regressed["reasons"] if r["kind"] == "flipped"]
    assert [(r["case_key"], r["assertion"]) for r in flipped] == [(first, "equals"), (second, "no_error")]
    assert flipped[0]["trace_id"] == results[0]["trace_id"]
    assert flipped[0]["run_url"].endswith(f"/runs/{results[0]['trace_id']}/")
    assert flipped[0]["message"].startswith(f"regression against eval run {clean}: case {first}: failed")
    assert regressed["reasons"][-1]["kind"] == "small_sample"  # two cases cannot make Fisher's test speak

    listed = api.get(_url(project), {"bundle": "v2"}).json()["results"]
    assert [r["id"] for r in listed] == [v2]
    assert [r["id"] for r in api.get(_url(project), {"set": "smoke"}).json()["results"]] == [v2, clean, base]
    assert api.get(_url(project), {"set": "other"}).json()["results"] == []


def test_scoring_waits_for_traces_that_have_not_landed_and_final_gives_up_on_them(personas):
    project, api = personas.project, _client(personas.engineer)
    _, (first, second) = _set(project)
    run_id = _start(api, project)["id"]
    later = AgentTrace()
    never = os.urandom(16).hex()
    _post(
        api, _url(project, run_id, "results"), [{"case_key": first, "output": "shipped", "trace_id": later.trace_hex}]
    )
    waiting = _post(api, _url(project, run_id, "score"), {})
    assert waiting.status_code == 202
    assert waiting.json() == {
        "id": run_id,
        "state": "scoring",
        "waiting": [
            {"case_key": second, "attempt": 1, "waiting_for": "result"},
            {"case_key": first, "attempt": 1, "waiting_for": "trace"},
        ],
        "waiting_count": 2,
    }
    _post(api, _url(project, run_id, "results"), [{"case_key": second, "output": "shipped", "trace_id": never}])
    make_run(project, later)
    # Another project's run under that trace id is never read: it has not landed in this project.
    make_run(personas.other_project, AgentTrace(trace_id=bytes.fromhex(never)))
    still = _post(api, _url(project, run_id, "score"), {}).json()
    assert still["waiting"] == [{"case_key": second, "attempt": 1, "waiting_for": "trace"}]
    done = _post(api, _url(project, run_id, "score"), {"final": True})
    assert done.status_code == 200
    body = done.json()
    assert body["verdict"] == "fail" and body["cases"][0]["passed"] is True
    unlanded = body["cases"][1]["attempts"][0]
    assert unlanded["passed"] is False and unlanded["run_url"].endswith(f"/runs/{never}/")
    assert [o["status"] for o in unlanded["outcomes"]] == ["passed", "skipped", "skipped"]
    # Done is done: no more results, and scoring again changes nothing.
    refused = _post(api, _url(project, run_id, "results"), [{"case_key": first, "output": "x"}])
    assert refused.status_code == 409 and refused.json() == {"state": ["this eval run is done: start a new one"]}
    assert _post(api, _url(project, run_id, "score"), {}).json()["finished_at"] == body["finished_at"]


def test_a_case_passes_by_majority_of_its_repeats(personas):
    project, api = personas.project, _client(personas.engineer)
    _, (first, second) = _set(project)
    run_id = _start(api, project, repeat=3)["id"]
    results = []
    for key, outputs in ((first, ["shipped", "lost", "shipped"]), (second, ["shipped", "lost", "lost"])):
        for n, output in enumerate(outputs, 1):
            trace = make_run(project, AgentTrace())
            results.append({"case_key": key, "attempt": n, "output": output, "trace_id": trace.trace_hex})
    _post(api, _url(project, run_id, "results"), results)
    done = _post(api, _url(project, run_id, "score"), {}).json()
    assert [c["passed"] for c in done["cases"]] == [True, False]
    assert done["metrics"]["task_success"] == 0.5 and done["verdict"] == "fail"
    assert done["reasons"][1]["message"].startswith(f"case {second}: 1 of 3 attempts passed; attempt 2: equals")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"set": "nope", "bundle": "v1"}, "set"),
        ({"set": "smoke"}, "bundle"),
        ({"set": "smoke", "bundle": "v1", "version": 3}, "version"),
        ({"set": "smoke", "bundle": "v1", "version": 0}, "version"),
        ({"set": "smoke", "bundle": "v1", "repeat": 11}, "repeat"),
        ({"set": "smoke", "bundle": "v1", "gate": {"task_sucess": 1}}, "gate.task_sucess"),
        ({"set": "smoke", "bundle": "v1", "baseline": "a\nb"}, "baseline"),
        ({"set": "smoke", "bundle": "v1", "bundel": "v1"}, "bundel"),
    ],
)
def test_a_bad_start_is_400_naming_the_field(personas, body, field):
    _set(personas.project)
    answer = _post(_client(personas.engineer), _url(personas.project), body)
    assert answer.status_code == 400 and list(answer.json()) == [field]


def test_bad_results_are_400_naming_the_place(personas):
    project, api = personas.project, _client(personas.engineer)
    _, (first, _second) = _set(project)
    run_id = _start(api, project)["id"]
    for results, field in [
        ([{"case_key": "missing"}], "results[0].case_key"),
        ([{"case_key": first, "attempt": 2}], "results[0].attempt"),
        ([{"case_key": first, "trace_id": "xyz"}], "results[0].trace_id"),
        ([{"case_key": first, "outptu": 1}], "results[0].outptu"),
        ([], "results"),
    ]:
        answer = _post(api, _url(project, run_id, "results"), results)
        assert answer.status_code == 400 and list(answer.json()) == [field], results


def test_viewers_read_without_payloads_and_only_engineers_run_evals(personas):
    project, engineer = personas.project, _client(personas.engineer)
    _, (first, second) = _set(project)
    run_id = _start(engineer, project)["id"]
    _post(engineer, _url(project, run_id, "results"), _agent_runs(project, {first: HOSTILE, second: "shipped"}))
    _post(engineer, _url(project, run_id, "score"), {})

    viewer = _client(personas.viewer)
    seen = viewer.get(_url(project, run_id)).json()
    text = json.dumps(seen)
    assert seen["verdict"] == "fail" and "alert" not in text and "shipped" not in text
    assert "detail" not in seen["reasons"][1] and seen["reasons"][1]["assertion"] == "equals"
    attempt = seen["cases"][0]["attempts"][0]
    assert "output" not in attempt and attempt["outcomes"][0] == {"type": "equals", "status": "failed"}
    full = engineer.get(_url(project, run_id)).json()
    assert full["cases"][0]["attempts"][0]["output"] == HOSTILE
    assert HOSTILE[:20] in full["cases"][0]["attempts"][0]["outcomes"][0]["reason"]

    assert _post(viewer, _url(project), {"set": "smoke", "bundle": "v1"}).status_code == 404
    assert _post(viewer, _url(project, run_id, "score"), {}).status_code == 404
    assert _post(viewer, _url(project, run_id, "results"), [{"case_key": first}]).status_code == 404
    assert viewer.get(_url(project)).status_code == 200


def test_outsiders_and_other_projects_runs_are_404(personas):
    project, engineer = personas.project, _client(personas.engineer)
    _set(project)
    run_id = _start(engineer, project)["id"]
    outsider = _client(personas.outsider)
    for answer in [
        outsider.get(_url(project)),
        outsider.get(_url(project, run_id)),
        _post(outsider, _url(project), {"set": "smoke", "bundle": "v1"}),
        _post(outsider, _url(project, run_id, "score"), {}),
    ]:
        assert answer.status_code == 404
    # The outsider's own project, with this project's run id: not found either.
    own = personas.other_project
    assert outsider.get(_url(own, run_id)).status_code == 404
    assert _post(outsider, _url(own, run_id, "results"), [{"case_key": "x"}]).status_code == 404
    assert outsider.get(_url(own)).json()["results"] == []


def test_deleting_a_set_keeps_its_eval_runs(personas):
    project, api = personas.project, _client(personas.engineer)
    _, (first, second) = _set(project)
    finished = _start(api, project)["id"]
    _post(api, _url(project, finished, "results"), _agent_runs(project, {first: "shipped", second: "shipped"}))
    assert _post(api, _url(project, finished, "score"), {}).json()["verdict"] == "pass"
    unfinished = _start(api, project)["id"]
    assert api.delete(f"/api/v1/projects/{project.slug}/golden-sets/smoke/").status_code == 204

    kept = api.get(_url(project, finished)).json()
    assert (kept["set"], kept["verdict"], len(kept["cases"])) == ("smoke", "pass", 2)
    assert EvalRun.objects.get(pk=finished).golden_set is None
    errored = _post(api, _url(project, unfinished, "score"), {}).json()
    assert (errored["state"], errored["verdict"]) == ("error", "error")


def test_the_openapi_schema_describes_the_eval_runs_endpoints(client):
    from django.urls import reverse

    schema = client.get(reverse("api_schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    base = "/api/v1/projects/{slug}/eval-runs/"
    assert {"get", "post"} <= set(schema["paths"][base])
    assert "get" in schema["paths"][base + "{eval_run_id}/"]
    assert "post" in schema["paths"][base + "{eval_run_id}/results/"]
    assert "post" in schema["paths"][base + "{eval_run_id}/score/"]


def test_the_list_and_an_eval_run_cost_the_same_queries_whatever_their_size(personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    project, api = personas.project, _client(personas.engineer)
    counts: list[tuple[int, int]] = []
    for size in (1, 4):
        golden_set = golden_set_create(project=project, user=None, data={"name": f"size-{size}"})
        for i in range(size):
            case_add(golden_set=golden_set, user=None, data={"input": i, "assertions": ASSERTIONS}, payloads=True)
        started = _start(api, project, set=golden_set.name, repeat=2)
        results = [
            {"case_key": case["case_key"], "attempt": n, "output": "shipped"}
            for case in started["cases"]
            for n in (1, 2)
        ]
        _post(api, _url(project, started["id"], "results"), results)
        # Untraced results wait for a tagged run (eval_traces); `final` scores them without one.
        assert _post(api, _url(project, started["id"], "score"), {"final": True}).json()["state"] == "done"
        with CaptureQueriesContext(connection) as detail:
            assert len(api.get(_url(project, started["id"])).json()["cases"]) == size
        with CaptureQueriesContext(connection) as listed:
            assert len(api.get(_url(project)).json()["results"]) == len(counts) + 1
        counts.append((len(detail), len(listed)))
    assert counts[0] == counts[1]
