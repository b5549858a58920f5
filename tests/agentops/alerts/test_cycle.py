"""The evaluation cycle: every enabled rule, failures isolated, then reminders; one cycle at a time."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from agentops.alerts.evaluation import EVALUATORS, cycle
from agentops.alerts.lifecycle import alerts_observe
from agentops.alerts.models import Alert, AlertEvent, AlertRule, RuleKind, Severity
from tests.agentops.alerts.test_lifecycle import finding
from tests.factories import make_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("without_default_rules")]


def no_traffic(project, **kw) -> AlertRule:
    """Fires on an empty project: fewer than 1 run in the last hour is critical."""
    fields = dict(name="No traffic", kind=RuleKind.THRESHOLD, metric="runs", direction="below", warning=10, critical=1)
    return AlertRule.objects.create(project=project, **{**fields, **kw})


def test_every_enabled_rule_of_every_project_runs():
    first, second = make_project(), make_project()
    rules = [no_traffic(first), no_traffic(second)]
    no_traffic(first, name="off", enabled=False)

    result = cycle.evaluate_all(now=datetime.now(UTC))

    assert (result.rules, result.failed, result.findings, result.events["opened"]) == (2, 0, 2, 2)
    assert sorted(Alert.objects.values_list("rule", flat=True)) == [r.pk for r in rules]


def test_a_failing_rule_is_logged_and_the_others_still_run(monkeypatch, caplog):
    project = make_project()
    broken = no_traffic(project, name="broken", metric="vibes")
    failing_sql = AlertRule.objects.create(project=project, name="bad sql", kind=RuleKind.SPIKE, metric="runs")
    good = no_traffic(project, name="good")

    def division_by_zero(rule, *, now):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # a database error: the rule's transaction is rolled back
        return []

    monkeypatch.setitem(EVALUATORS, RuleKind.SPIKE, division_by_zero)
    with caplog.at_level(logging.ERROR, logger=cycle.__name__):
        result = cycle.evaluate_all(now=datetime.now(UTC))

    assert (result.rules, result.failed) == (3, 2)
    assert list(Alert.objects.values_list("rule", flat=True)) == [good.pk]
    failures = [r for r in caplog.records if getattr(r, "event", None) == "alerts.rule_failed"]
    assert sorted(r.rule for r in failures) == sorted([broken.pk, failing_sql.pk])
    assert any("unknown metric" in r.error for r in failures) and any("division" in r.error for r in failures)
    assert all(r.project == project.pk for r in failures)


def test_a_slow_rule_times_out_alone(monkeypatch, caplog):
    project = make_project()
    AlertRule.objects.create(project=project, name="slow", kind=RuleKind.SPIKE, metric="runs")
    good = no_traffic(project, name="good")

    def slow(rule, *, now):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        return []

    monkeypatch.setitem(EVALUATORS, RuleKind.SPIKE, slow)
    monkeypatch.setattr(cycle, "RULE_STATEMENT_TIMEOUT_MS", 50)
    with caplog.at_level(logging.ERROR, logger=cycle.__name__):
        result = cycle.evaluate_all(now=datetime.now(UTC))

    assert (result.rules, result.failed) == (2, 1)
    assert list(Alert.objects.values_list("rule", flat=True)) == [good.pk]
    assert any("statement timeout" in getattr(r, "error", "") for r in caplog.records)


def test_reminders_follow_the_rules():
    project = make_project()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for name, enabled in (("reminding", True), ("switched off", False)):
        rule = no_traffic(project, name=name, renotify_minutes=30, enabled=enabled)
        alerts_observe(rule, [finding(Severity.CRITICAL, scope={})], now=an_hour_ago)

    result = cycle.evaluate_all(now=datetime.now(UTC))

    # The enabled rule's alert is still critical (no notification since it opened): reminded once.
    assert result.events == {"updated": 1} and result.reminders == 1
    (reminder,) = AlertEvent.objects.filter(event="reminder")
    assert reminder.alert.rule.name == "reminding"


def test_a_second_cycle_returns_at_once_while_one_runs():
    project = make_project()
    no_traffic(project)
    held, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with connections["default"].cursor() as cursor:  # this thread's own connection
            cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [cycle.LOCK_NAME])
            held.set()
            release.wait(30)
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [cycle.LOCK_NAME])
        connections["default"].close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert held.wait(30)
        assert cycle.run_cycle() is None
        assert not Alert.objects.exists()
    finally:
        release.set()
        holder.join(30)

    result = cycle.run_cycle()
    assert result is not None and result.rules == 1 and Alert.objects.count() == 1
    assert cycle.run_cycle() is not None  # the lock was given back


def test_spike_and_budget_rules_the_evaluators_cannot_read_fail_loudly_in_the_cycle(caplog):
    project = make_project()
    budget = AlertRule.objects.create(project=project, name="b", kind=RuleKind.BUDGET, metric="cost_usd", params={})
    spike = AlertRule.objects.create(project=project, name="s", kind=RuleKind.SPIKE, metric="vibes")
    with caplog.at_level(logging.ERROR, logger=cycle.__name__):
        result = cycle.evaluate_all(now=datetime.now(UTC))

    assert (result.rules, result.failed) == (2, 2)
    failures = {r.rule: r.error for r in caplog.records if getattr(r, "event", None) == "alerts.rule_failed"}
    assert "BadRule: params.limit_usd" in failures[budget.pk]
    assert "BadRule: metric must be one of" in failures[spike.pk]
