"""Trace facts read in batches: an eval run's scoring costs the same queries whatever its size, and each
run's facts are its own."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentops.goldens.eval_services import eval_create, eval_score, results_submit
from agentops.goldens.facts import ToolCall, facts_of_runs, trace_facts
from agentops.goldens.services import case_add, golden_set_create
from tests.factories import make_project, make_run
from tests.otlp import AgentTrace
from traces.models import Run

pytestmark = pytest.mark.django_db

ASSERTIONS = [
    {"type": "equals", "value": "shipped"},
    {"type": "tools_called", "tools": ["lookup_order"]},
    {"type": "no_error"},
    {"type": "max_steps", "value": 10},
]


def _scoring_queries(project, name: str, cases: int) -> int:
    golden_set = golden_set_create(project=project, user=None, data={"name": name})
    for i in range(cases):
        data = {"input": {"question": f"order {i}?"}, "assertions": ASSERTIONS}
        case_add(golden_set=golden_set, user=None, data=data, payloads=True)
    created = eval_create(project=project, user=None, data={"set": name, "bundle": "v1"})
    results = [
        {"case_key": c.case_key, "output": "shipped", "trace_id": make_run(project, AgentTrace()).trace_hex}
        for c in created.cases
    ]
    results_submit(eval_run=created.eval_run, data=results)
    with CaptureQueriesContext(connection) as captured:
        scored = eval_score(eval_run=created.eval_run, user=None)
    assert not scored.waiting and scored.eval_run.verdict == "pass"
    return len(captured.captured_queries)


def test_scoring_an_eval_run_costs_the_same_queries_for_two_cases_as_for_eight():
    project = make_project()
    small = _scoring_queries(project, "small", 2)
    large = _scoring_queries(project, "large", 8)
    # Read per case, the steps cost one query each: 6 more for the larger run.
    assert large == small, (small, large)


def test_facts_of_many_runs_are_each_runs_own_in_one_query(django_assert_num_queries):
    project = make_project()
    plain = make_run(project, AgentTrace(llm_calls=1))
    failing = make_run(project, AgentTrace(llm_calls=3, tool_error=True))
    runs = list(Run.objects.filter(project=project).order_by("id"))

    with django_assert_num_queries(1):
        found = facts_of_runs(project, runs)

    by_hex = {trace_id.hex: facts for trace_id, facts in found.items()}
    assert set(by_hex) == {plain.trace_hex, failing.trace_hex}
    assert by_hex[plain.trace_hex].error_steps == ()
    assert by_hex[failing.trace_hex].error_steps == ("execute_tool lookup_order",)
    assert by_hex[plain.trace_hex].steps == 3 and by_hex[failing.trace_hex].steps == 5
    for facts in found.values():
        assert facts.tool_calls == (ToolCall("lookup_order", {"order": 100}),)
    # One at a time, the same facts.
    assert {run.trace_id: trace_facts(project, run) for run in runs} == found
    assert facts_of_runs(project, []) == {}
