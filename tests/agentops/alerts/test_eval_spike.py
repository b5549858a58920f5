"""Spike rules: the last window against the median of the same window on the previous days, on runs
whose spend, errors and times are known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentops.alerts.evaluation import spike
from agentops.alerts.evaluation.base import BadRule
from agentops.alerts.models import AlertRule, RuleKind, Severity
from tests.agentops.alerts.spend import add_run, refresh
from tests.factories import make_project

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 10, 12, 34, 56, tzinfo=UTC)
DAY = timedelta(days=1)
M = timedelta(minutes=1)
WINDOW = 180  # minutes: two whole hours from the rollups, the edges from the runs


def _rule(project, **fields) -> AlertRule:
    values = {
        "name": "Cost spike",
        "kind": RuleKind.SPIKE,
        "metric": "cost_usd",
        "window_minutes": WINDOW,
        "warning": 2.0,
        "critical": 4.0,
        "min_sample": 1,
        "params": {},
    } | fields
    return AlertRule.objects.create(project=project, **values)


def _history(project, costs=("1", "1", "2", "1", "3", "1", "1"), **run):
    """One run on each previous day inside the window (costs: the day before first), and an older run so
    that the project is older than its baseline."""
    for d, cost in enumerate(costs, start=1):
        add_run(project, NOW - d * DAY - 100 * M, cost=cost, **run)
    add_run(project, NOW - 30 * DAY, cost="0")


def _judge(rule) -> spike.Finding:
    (finding,) = spike.evaluate(rule, now=NOW)
    return finding


@pytest.fixture
def project():
    return make_project()


def test_spend_four_times_the_median_is_critical(project):
    _history(project)
    for minutes in (1, 60, 179):  # inside the window, at both edges and in a whole hour
        add_run(project, NOW - minutes * M, cost="1.5")
    add_run(project, NOW - WINDOW * M - M, cost="100")  # just before the window
    add_run(project, NOW, cost="100")  # the window ends before now
    refresh()
    finding = _judge(_rule(project))
    assert finding.severity == Severity.CRITICAL
    assert finding.value == pytest.approx(4.5)
    assert finding.baseline_value == 1.0  # median of 1, 1, 2, 1, 3, 1, 1
    assert finding.details["factor"] == pytest.approx(4.5)
    assert finding.details["baseline_values"] == [1.0, 1.0, 2.0, 1.0, 3.0, 1.0, 1.0]
    assert finding.details["baseline_days"] == 7
    assert finding.details["window_start"] == (NOW - WINDOW * M).isoformat()
    assert finding.details["window_end"] == NOW.isoformat()
    assert finding.details["baseline_windows"][0] == [(NOW - DAY - WINDOW * M).isoformat(), (NOW - DAY).isoformat()]
    assert finding.runs_filter == {"from": (NOW - WINDOW * M).isoformat(), "to": NOW.isoformat()}
    assert finding.scope == {}
    assert finding.summary == (
        "Spend in the last 180 min: $4.50, 4.50x the median of the same 180 min on the previous 7 days ($1.00)"
    )


@pytest.mark.parametrize(("spend", "severity"), [("3", Severity.WARNING), ("1.9", None), ("4", Severity.CRITICAL)])
def test_warning_critical_or_clear_by_factor(project, spend, severity):
    _history(project)
    add_run(project, NOW - 90 * M, cost=spend)
    refresh()
    assert _judge(_rule(project)).severity == severity


def test_a_rule_with_only_a_warning_level_warns_however_high(project):
    _history(project)
    add_run(project, NOW - 90 * M, cost="50")
    refresh()
    assert _judge(_rule(project, critical=None)).severity == Severity.WARNING


def test_a_zero_baseline_judges_the_value_against_the_floor(project):
    add_run(project, NOW - 30 * DAY, cost="5")  # the project is old, but nothing ran at this hour since
    add_run(project, NOW - 90 * M, cost="0.5")
    refresh()
    finding = _judge(_rule(project))
    assert (finding.severity, finding.baseline_value, finding.details["factor"]) == (Severity.CRITICAL, 0, None)
    assert finding.summary.endswith("$0.50, against a median of $0.00 for the same 180 min on the previous 7 days")
    assert _judge(_rule(project, critical=None)).severity == Severity.WARNING
    # Below the floor it is no spike: clear (so that an alert opened on it resolves when spend stops).
    assert _judge(_rule(project, params={"min_value": 1})).severity is None


def test_a_baseline_at_or_below_min_baseline_counts_as_zero(project):
    _history(project, costs=("0.02",) * 7)
    add_run(project, NOW - 90 * M, cost="0.03")
    refresh()
    assert _judge(_rule(project)).severity is None  # 1.5x
    assert _judge(_rule(project, params={"min_baseline": 0.05})).severity == Severity.CRITICAL


def test_too_little_data_gives_no_finding(project):
    # Runs in the window and on recent days, but none as old as the oldest baseline window.
    for d in range(4):
        add_run(project, NOW - d * DAY - 90 * M, cost="10" if d == 0 else "1")
    refresh()
    assert spike.evaluate(_rule(project), now=NOW) == []
    add_run(project, NOW - 8 * DAY - WINDOW * M - M, cost="0")  # now the project predates its baseline
    assert _judge(_rule(project)).severity == Severity.CRITICAL
    # Fewer runs in the window than min_sample: no finding either.
    assert spike.evaluate(_rule(project, min_sample=2), now=NOW) == []


def test_another_projects_runs_never_count(project):
    other = make_project()
    _history(project)
    _history(other)
    add_run(project, NOW - 90 * M, cost="1")
    for minutes in (10, 90, 170):
        add_run(other, NOW - minutes * M, cost="500")
    refresh()
    finding = _judge(_rule(project))
    assert (finding.severity, finding.value, finding.baseline_value) == (None, 1.0, 1.0)


def test_runs_errors_and_tokens(project):
    for d in range(1, 8):
        add_run(project, NOW - d * DAY - 100 * M, error=d == 1)
        add_run(project, NOW - d * DAY - 50 * M)
    add_run(project, NOW - 30 * DAY)
    for i in range(10):
        add_run(project, NOW - (5 + i * 10) * M, error=i < 3)
    refresh()
    runs = _judge(_rule(project, metric="runs", params={"min_value": 5}))
    assert (runs.value, runs.baseline_value, runs.severity) == (10, 2, Severity.CRITICAL)
    errors = _judge(_rule(project, metric="errors", params={"min_value": 1}))
    assert (errors.value, errors.baseline_value, errors.severity) == (3, 0, Severity.CRITICAL)
    assert errors.runs_filter["status"] == "error"
    assert errors.details["baseline_values"] == [1, 0, 0, 0, 0, 0, 0]
    tokens = _judge(_rule(project, metric="tokens", params={"min_value": 5}))
    assert (tokens.value, tokens.baseline_value, tokens.severity) == (11000, 2200, Severity.CRITICAL)  # 1000+100 a run
    # The default floor for counts is 10: three failed runs are not a spike of errors.
    assert _judge(_rule(project, metric="errors")).severity is None


def test_a_drop_below_the_baseline(project):
    for d in range(1, 8):
        for minutes in (20, 80, 140):
            add_run(project, NOW - d * DAY - minutes * M)
    add_run(project, NOW - 30 * DAY)
    add_run(project, NOW - 90 * M)
    refresh()
    rule = _rule(project, metric="runs", direction="below", warning=0.5, critical=0.25, params={"min_value": 3})
    finding = _judge(rule)
    assert (finding.value, finding.baseline_value, finding.severity) == (1, 3, Severity.WARNING)
    # For a drop, min_sample applies to the baseline (a drop to nothing is a drop).
    assert spike.evaluate(_rule(project, metric="runs", direction="below", warning=0.5, min_sample=4), now=NOW) == []


def test_a_scope_counts_its_own_runs_and_hostile_names_are_just_data(project):
    hostile = "'); DROP TABLE traces_run; --<script>alert(1)</script>%s{}"
    _history(project, agent=hostile, user=hostile)
    _history(project, costs=("50",) * 7, agent="other-bot")  # the other agent's spend is no baseline here
    add_run(project, NOW - 90 * M, cost="5", agent=hostile, user=hostile)
    add_run(project, NOW - 95 * M, cost="5", agent="other-bot", user=hostile)
    refresh()
    by_agent = _judge(_rule(project, scope={"agent": hostile}))
    assert (by_agent.value, by_agent.baseline_value, by_agent.severity) == (5, 1, Severity.CRITICAL)
    assert by_agent.scope == {"agent": hostile}
    assert by_agent.runs_filter["agent"] == hostile
    # An end user's spend is read from the runs; both agents' runs of that user count.
    by_user = _judge(_rule(project, scope={"user": hostile}))
    assert (by_user.value, by_user.baseline_value) == (10, 1)
    assert by_user.runs_filter["user"] == hostile
    assert spike.evaluate(_rule(project, scope={"agent": hostile, "environment": "staging"}), now=NOW) == []
    assert _judge(_rule(project, scope={"agent": hostile, "environment": "staging"}, min_sample=0)).value == 0


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"metric": "latency_p95_ms"}, "metric"),
        ({"params": {"days": 0}}, "params.days"),
        ({"params": {"min_value": "lots"}}, "params.min_value"),
    ],
)
def test_a_rule_this_kind_cannot_take_is_refused_naming_the_field(project, fields, named):
    _history(project)
    refresh()
    with pytest.raises(BadRule, match=named):
        spike.evaluate(_rule(project, **fields), now=NOW)


def test_fewer_baseline_days(project):
    _history(project, costs=("1", "3", "9"))
    add_run(project, NOW - 90 * M, cost="7")
    refresh()
    finding = _judge(_rule(project, params={"days": 3}))
    assert (finding.baseline_value, finding.details["baseline_values"]) == (3, [1, 3, 9])
    assert finding.severity == Severity.WARNING
