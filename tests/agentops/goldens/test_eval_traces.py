"""Results submitted without a trace id wait for the run the agent tagged (agentops.goldens.eval_traces)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.agentops.goldens.test_eval_api import _client, _post, _set, _start, _url
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.models import Run

pytestmark = pytest.mark.django_db


def _tags(run_id, case, attempt=1, **more):
    return {"agentops.eval.run": str(run_id), "agentops.eval.case": case, "agentops.eval.attempt": str(attempt)} | more


def test_an_untraced_result_waits_for_its_tagged_run_and_is_scored_on_it(personas):
    project, api = personas.project, _client(personas.engineer)
    _, (first, second) = _set(project)
    run_id = _start(api, project)["id"]
    other_id = _start(api, project)["id"]
    _post(api, _url(project, run_id, "results"), [{"case_key": k, "output": "shipped"} for k in (first, second)])
    # Not this attempt's run: another eval run's, another case's attempt, another project's, one stored before.
    make_run(project, AgentTrace(), resource=_tags(other_id, first))
    make_run(project, AgentTrace(), resource=_tags(run_id, first, attempt=2))
    make_run(personas.other_project, AgentTrace(), resource=_tags(run_id, first))
    stale = make_run(project, AgentTrace(), resource=_tags(run_id, second))
    stored = Run.objects.filter(project=project, trace_id=stale.trace_hex)
    stored.update(updated_at=stored.get().updated_at - timedelta(hours=2))

    waiting = _post(api, _url(project, run_id, "score"), {})
    assert waiting.status_code == 202
    assert sorted((w["case_key"], w["waiting_for"]) for w in waiting.json()["waiting"]) == sorted(
        [(first, "trace"), (second, "trace")]
    )

    tagged = make_run(project, AgentTrace(), resource=_tags(run_id, first, **{"service.name": "bot"}))
    make_run(project, AgentTrace(), resource=_tags(run_id, second))
    assert _post(api, _url(project, run_id, "score"), {}).status_code == 200
    done = api.get(_url(project, run_id)).json()
    by_case = {c["case_key"]: c["attempts"][0] for c in done["cases"]}
    assert by_case[first]["trace_id"] == tagged.trace_hex
    assert by_case[first]["run_url"].endswith(f"/runs/{tagged.trace_hex}/")
    assert by_case[second]["trace_id"] != stale.trace_hex
    # The trace assertions read the run: none skipped.
    assert [o["status"] for o in by_case[first]["outcomes"]] == ["passed", "passed", "passed"]
    assert done["verdict"] == "pass"


def test_final_scores_an_untraced_result_without_a_run(personas):
    project, api = personas.project, _client(personas.engineer)
    _, (first, second) = _set(project)
    run_id = _start(api, project)["id"]
    _post(api, _url(project, run_id, "results"), [{"case_key": k, "output": "shipped"} for k in (first, second)])

    done = _post(api, _url(project, run_id, "score"), {"final": True})

    assert done.status_code == 200 and done.json()["verdict"] == "fail"
    statuses = {o["status"] for c in done.json()["cases"] for o in c["attempts"][0]["outcomes"]}
    assert "skipped" in statuses
