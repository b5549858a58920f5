"""Drift evaluation: recorded bundles with runs in the window against their recorded baselines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from agentops.agents.models import Bundle
from agentops.agents.services import bundles_record
from agentops.alerts.evaluation import drift
from agentops.alerts.lifecycle import alerts_observe
from agentops.alerts.models import Alert, AlertRule, RuleKind, Severity
from tests.agentops.alerts.runs import AGENT, seed
from tests.factories import make_project
from traces.filters import parse_filters
from traces.models import Run

pytestmark = pytest.mark.django_db


def rule(project, **kw) -> AlertRule:
    fields = dict(name="Drift of new bundles", kind=RuleKind.DRIFT, metric="", window_minutes=1440, min_sample=20)
    return AlertRule.objects.create(project=project, **{**fields, **kw})


def now() -> datetime:
    return datetime.now(UTC)


def test_a_regressed_bundle_is_critical_with_its_evidence():
    project = make_project()
    seed(project, "v1", 40, hours_ago=30)  # the baseline: before the window, still judged against
    seed(project, "v2", 40, hours_ago=2, regressed=True)
    bundles_record()

    (finding,) = drift.evaluate(rule(project), now=now())

    assert finding.severity == Severity.CRITICAL
    assert finding.scope == {"agent": AGENT, "bundle": "v2", "environment": "prod"}
    details = finding.details
    assert (details["verdict"], details["baseline"], details["candidate_n"], details["baseline_n"]) == (
        "fail",
        "v1",
        40,
        40,
    )
    names = {m["name"] for m in details["metrics"]}
    assert names == set(drift.DEFAULT_METRICS)  # per-tool metrics only when asked for
    assert "error_rate" in finding.summary and finding.summary.startswith(f"{AGENT} bundle v2 in prod against v1: fail")
    # The link: the candidate's failed runs in the window.
    assert finding.runs_filter["status"] == "error"
    filters = parse_filters(QueryDict(urlencode(finding.runs_filter)))
    assert filters.apply(Run.objects.filter(project=project)).count() == 16


def test_a_bundle_like_its_baseline_is_clear_and_the_baseline_itself_is_not_judged():
    project = make_project()
    seed(project, "v1", 40, hours_ago=3)
    seed(project, "v2", 40, hours_ago=1)
    bundles_record()

    findings = drift.evaluate(rule(project), now=now())

    # v1 has runs in the window too, but no baseline: nothing to judge it against.
    assert [(f.scope["bundle"], f.severity, f.details["verdict"]) for f in findings] == [("v2", None, "pass")]


def test_too_few_runs_or_none_in_the_window_is_no_finding():
    project = make_project()
    seed(project, "v1", 40, hours_ago=50)
    seed(project, "v2", 10, hours_ago=1, regressed=True)
    bundles_record()

    assert drift.evaluate(rule(project), now=now()) == []
    assert len(drift.evaluate(rule(project, min_sample=5), now=now())) == 1
    assert drift.evaluate(rule(project, min_sample=5, window_minutes=30), now=now()) == []  # v2 ran before


def test_chosen_metrics_and_scope():
    project = make_project()
    seed(project, "v1", 40, hours_ago=30)
    seed(project, "v2", 40, hours_ago=2, regressed=True)
    seed(project, "v2", 40, hours_ago=30, environment="staging")
    seed(project, "v3", 40, hours_ago=2, environment="staging")
    bundles_record()

    # Steps and tool calls only: the regressed bundle makes two more model calls (more steps), a drift.
    (finding,) = drift.evaluate(rule(project, params={"metrics": ["steps"]}, scope={"environment": "prod"}), now=now())
    assert [m["name"] for m in finding.details["metrics"]] == ["steps"] and finding.severity == Severity.CRITICAL
    with_tools = drift.evaluate(
        rule(project, params={"metrics": ["error_rate", "tools"]}, scope={"environment": "prod"}), now=now()
    )
    assert {m["name"] for m in with_tools[0].details["metrics"]} == {
        "error_rate",
        "tool.lookup_order.calls",
        "tool.lookup_order.error_rate",
    }
    staging = drift.evaluate(rule(project, scope={"environment": "staging"}), now=now())
    assert [(f.scope["bundle"], f.scope["environment"]) for f in staging] == [("v3", "staging")]
    assert drift.evaluate(rule(project, scope={"agent": "someone-else"}), now=now()) == []


def test_the_bundles_judged_per_cycle_are_bounded_and_rotate(monkeypatch):
    project = make_project()
    seed(project, "v1", 1, hours_ago=5)
    for name in ("v2", "v3", "v4"):
        seed(project, name, 1, hours_ago=1)
    bundles_record()
    monkeypatch.setattr(drift, "MAX_BUNDLES", 2)
    r = rule(project)
    t = now()

    seen = [{b.name for b in drift.candidates(r, since=t - timedelta(days=1, minutes=-m))} for m in range(3)]

    assert all(len(names) == 2 for names in seen)
    assert set().union(*seen) == {"v2", "v3", "v4"}  # v1 has no baseline
    assert Bundle.objects.filter(project=project).count() == 4


def test_the_tool_steps_are_read_only_for_tool_metrics():
    project = make_project()
    seed(project, "v1", 30, hours_ago=30)
    seed(project, "v2", 30, hours_ago=2)
    bundles_record()

    def step_reads(params) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert len(drift.evaluate(rule(project, params=params), now=now())) == 1
        return sum("traces_step" in q["sql"] for q in queries.captured_queries)

    assert step_reads({}) == 0  # the default metrics are columns of the runs
    assert step_reads({"metrics": ["error_rate", "tool_errors"]}) == 2  # one per arm


def test_an_alert_resolves_once_its_bundle_has_no_runs_in_the_window():
    project = make_project()
    seed(project, "v1", 40, hours_ago=30)
    seed(project, "v2", 40, hours_ago=2, regressed=True)
    bundles_record()
    r = rule(project)
    alerts_observe(r, drift.evaluate(r, now=now()), now=now())
    assert Alert.objects.get().state == "open"

    # Rolled back: a day later v2 has had no run in the window, and is no longer drifting.
    later = now() + timedelta(days=1)
    (cleared,) = drift.evaluate(r, now=later)
    assert cleared.severity is None and cleared.scope == {"agent": AGENT, "bundle": "v2", "environment": "prod"}
    assert "no runs in the last 1440 min" in cleared.summary
    alerts_observe(r, [cleared], now=later)
    assert Alert.objects.get().state == "resolved"
    assert drift.evaluate(r, now=later) == []  # nothing live, nothing to say
