"""bundle_sample: the per-run metrics of one bundle, read from runs stored by the real ingest pipeline."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agentops.alerts.selectors import bundle_sample
from tests.factories import make_project, make_run
from tests.otlp import NS, AgentTrace

pytestmark = pytest.mark.django_db


def store(project, *, minutes_ago: float, bundle: str = "v1", environment: str = "prod", ended: bool = True, **kw):
    trace = AgentTrace(agent="bot", start_ns=time.time_ns() - int(minutes_ago * 60 * NS), **kw)
    if not ended:
        trace.spans[0].end_ns = 0  # the root span never ended
    resource = {"service.name": "bot", "agentops.bundle.id": bundle, "deployment.environment.name": environment}
    make_run(project, trace, resource)
    return trace


def test_per_run_values():
    project = make_project()
    store(project, minutes_ago=30, llm_calls=2)
    store(project, minutes_ago=20, llm_calls=3, tool_error=True)

    sample = bundle_sample(project, agent="bot", bundle="v1")

    # Newest first. Each model call: 1000 + 100 tokens, 2 s; the tool call 1 s more, and 1 s to the root's end.
    assert sample.runs == 2
    assert sample.error == [True, False]
    assert sample.unfinished == [False, False]
    assert sample.llm_calls == [3, 2]
    assert sample.tokens == [3300, 2200]
    assert sample.steps == [5, 4]
    assert sample.tool_calls == [1, 1]
    assert sample.tool_errors == [1, 0]
    assert sample.duration_ms == [9000.0, 7000.0]
    assert all(cost > 0 for cost in sample.cost_usd) and sample.unpriced_steps == [0, 0]
    tool = sample.tools["lookup_order"]
    assert (tool.calls_per_run, tool.calls, tool.errors) == ([1, 1], 2, 1)


def test_an_old_run_without_a_root_end_is_unfinished_and_a_young_one_is_left_out():
    project = make_project()
    store(project, minutes_ago=30, ended=False)
    store(project, minutes_ago=1, ended=False)  # still in flight
    store(project, minutes_ago=2)

    sample = bundle_sample(project, agent="bot", bundle="v1")

    assert sample.unfinished == [False, True]
    assert len(sample.duration_ms) == 1  # an unfinished run has no duration
    assert bundle_sample(project, agent="bot", bundle="v1", grace=timedelta(0)).unfinished == [True, False, True]


def test_the_arm_is_one_bundle_of_one_agent_in_a_window():
    project, other = make_project(), make_project()
    store(project, minutes_ago=120)
    store(project, minutes_ago=30)
    store(project, minutes_ago=30, bundle="v2")
    store(project, minutes_ago=30, environment="staging")
    store(other, minutes_ago=30)

    assert bundle_sample(project, agent="bot", bundle="v1").runs == 3
    assert bundle_sample(project, agent="bot", bundle="v1", environment="prod").runs == 2
    assert bundle_sample(project, agent="bot", bundle="v1", since=timezone.now() - timedelta(hours=1)).runs == 2
    assert bundle_sample(project, agent="bot", bundle="v1", limit=1).runs == 1
    assert bundle_sample(project, agent="nobody", bundle="v1").runs == 0
