"""Threshold evaluation on runs stored by the real ingest pipeline."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from agentops.alerts.evaluation import threshold
from agentops.alerts.models import AlertRule, RuleKind, Severity
from tests.factories import make_project, make_run
from tests.otlp import NS, AgentTrace
from traces.filters import parse_filters
from traces.models import Run

pytestmark = pytest.mark.django_db


def store(project, *, minutes_ago: float, agent="bot", bundle="v1", environment="prod", ended=True, **kw):
    trace = AgentTrace(agent=agent, start_ns=time.time_ns() - int(minutes_ago * 60 * NS), **kw)
    if not ended:
        trace.spans[0].end_ns = 0  # the root span never ended
    resource = {"service.name": agent, "agentops.bundle.id": bundle, "deployment.environment.name": environment}
    make_run(project, trace, resource)


def rule(project, metric="error_rate", **kw) -> AlertRule:
    fields = dict(name=metric, kind=RuleKind.THRESHOLD, metric=metric, window_minutes=60, min_sample=5)
    return AlertRule.objects.create(project=project, **{"warning": 0.1, "critical": 0.25, **fields, **kw})


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def project():
    project = make_project()
    for i in range(10):
        store(project, minutes_ago=50 - i, tool_error=i < 3, llm_calls=1 + i % 3)
    for i in range(5):  # older than the window: never counted
        store(project, minutes_ago=120 + i, tool_error=True)
    return project


def test_error_rate_over_the_window_is_critical(project, django_assert_num_queries):
    r = rule(project)
    with django_assert_num_queries(1):
        (finding,) = threshold.evaluate(r, now=now())

    assert (finding.severity, finding.value, finding.scope) == (Severity.CRITICAL, 0.3, {})
    assert finding.details["runs"] == 10
    assert finding.summary.startswith("error_rate 30.0% over the last 1 h (10 runs; all runs): above the critical")
    # The link shows the failed runs of the window, and the run list takes its parameters.
    assert finding.runs_filter["status"] == "error"
    filters = parse_filters(QueryDict(urlencode(finding.runs_filter)))
    assert filters.apply(Run.objects.filter(project=project)).count() == 3


def test_levels_and_direction(project):
    t = now()
    assert threshold.evaluate(rule(project, warning=0.3, critical=0.5), now=t)[0].severity == Severity.WARNING
    (clear,) = threshold.evaluate(rule(project, warning=0.4, critical=None), now=t)
    assert clear.severity is None and clear.summary.endswith("within its levels")
    below = rule(project, metric="error_rate", direction="below", warning=0.5, critical=0.2)
    assert threshold.evaluate(below, now=t)[0].severity == Severity.WARNING


def test_too_few_runs_is_no_finding_but_a_count_is_always_judged(project):
    t = now()
    assert threshold.evaluate(rule(project, min_sample=11), now=t) == []
    traffic = rule(project, metric="runs", direction="below", warning=20, critical=5, min_sample=100)
    (finding,) = threshold.evaluate(traffic, now=t)
    assert (finding.severity, finding.value) == (Severity.WARNING, 10.0)
    empty = rule(make_project(), metric="runs", direction="below", warning=20, critical=5)
    assert threshold.evaluate(empty, now=t)[0].value == 0.0


def test_run_metrics(project):
    t = now()

    def value(metric: str) -> float | None:
        (finding,) = threshold.evaluate(rule(project, metric, warning=None, critical=1e12), now=t)
        return finding.value

    # 1, 2, 3 model calls in turn (4, 3, 3 runs); each call 1000 + 100 tokens; a run lasts 2 s a call + 3 s.
    assert value("runs") == 10
    assert value("llm_calls_per_run") == pytest.approx(1.9)
    assert value("tokens_per_run") == pytest.approx(1.9 * 1100)
    assert value("steps_per_run") == pytest.approx(1 + 1.9 + 1)
    assert value("tool_calls_per_run") == 1
    assert value("latency_p50_ms") == 7000
    assert value("latency_p99_ms") == 9000  # durations 5, 7 and 9 s: 4, 3 and 3 runs
    cost = value("cost_usd")
    assert cost is not None and cost > 0
    assert value("cost_per_run_usd") == pytest.approx(cost / 10)
    assert value("unfinished_rate") == 0


def test_unfinished_runs_count_once_settled(db):
    project = make_project()
    for minutes_ago in (40, 30, 20, 15):
        store(project, minutes_ago=minutes_ago)
    store(project, minutes_ago=30, ended=False)
    store(project, minutes_ago=2, ended=False)  # in flight: not unfinished yet

    (finding,) = threshold.evaluate(rule(project, "unfinished_rate", min_sample=1), now=now())

    assert finding.value == pytest.approx(1 / 6) and finding.severity == Severity.WARNING
    assert finding.runs_filter["status"] == "unfinished"


def test_scopes_filter_the_runs(db):
    project = make_project()
    for i in range(6):
        store(project, minutes_ago=30 - i, agent="bot", environment="prod", tool_error=i < 3)
        store(project, minutes_ago=30 - i, agent="other", environment="prod")
        store(project, minutes_ago=30 - i, agent="bot", environment="staging")
    t = now()

    def rate(scope):
        (finding,) = threshold.evaluate(rule(project, scope=scope), now=t)
        return finding.value, finding.details["runs"], finding.scope

    assert rate({}) == (3 / 18, 18, {})
    assert rate({"agent": "bot"}) == (0.25, 12, {"agent": "bot"})
    assert rate({"agent": "bot", "environment": "prod", "bundle": "v1"})[:2] == (0.5, 6)
    assert rate({"user": "user-1"})[:2] == (3 / 18, 18)
    assert threshold.evaluate(rule(project, scope={"user": "nobody"}), now=t) == []
    assert rate({"model": "gpt-4o"})[:2] == (3 / 18, 18)
    assert threshold.evaluate(rule(project, scope={"model": "claude"}), now=t) == []
    assert rate({"tool": "lookup_order", "agent": "bot"})[:2] == (0.25, 12)
    (finding,) = threshold.evaluate(rule(project, scope={"agent": "bot", "tool": "lookup_order"}), now=t)
    assert {k: v for k, v in finding.runs_filter.items() if k not in ("from", "to")} == {
        "agent": "bot",
        "tool": "lookup_order",
        "status": "error",
    }


def test_tool_error_rate_reads_tool_steps_of_the_newest_runs(project, monkeypatch):
    t = now()
    (finding,) = threshold.evaluate(rule(project, "tool_error_rate"), now=t)
    assert finding.value == 0.3 and finding.details["tool_calls"] == 10 and not finding.details["sampled"]

    assert threshold.evaluate(rule(project, "tool_error_rate", scope={"tool": "refund"}), now=t) == []

    monkeypatch.setattr(threshold, "MAX_TOOL_RUNS", 4)
    (capped,) = threshold.evaluate(rule(project, "tool_error_rate", min_sample=10), now=t)
    # The newest 4 runs had no tool error.
    assert (capped.value, capped.details["runs"], capped.details["sampled"]) == (0.0, 4, True)
    assert "newest 4 runs" in capped.summary


def test_rates_read_the_newest_runs_and_totals_the_whole_window(project, monkeypatch):
    monkeypatch.setattr(threshold, "SAMPLE_RUNS", 4)
    t = now()
    (rate,) = threshold.evaluate(rule(project, min_sample=10), now=t)
    assert (rate.value, rate.details["runs"], rate.details["sampled"]) == (0.0, 4, True)
    (count,) = threshold.evaluate(rule(project, "runs", warning=None, critical=1e9), now=t)
    assert count.value == 10 and "sampled" not in count.details


def test_latency_link_names_the_slow_runs(project):
    (finding,) = threshold.evaluate(rule(project, "latency_p95_ms", warning=8000, critical=20000), now=now())
    assert finding.severity == Severity.WARNING and finding.runs_filter["min_duration_ms"] == "8000"


def test_an_unknown_metric_is_an_error(project):
    with pytest.raises(ValueError, match="unknown metric"):
        threshold.evaluate(rule(project, "vibes"), now=now())
