"""The runaway job (agentops.budgets.runaway): runs past their agent's step cap are recorded once, with
the cap and the run's value, and the runaway rule a step cap brings opens one alert per project (through
the alerts engine, to its channels, linked to the run list's runaway=1); runs below their cap, of an agent
without one, or not changed since the watermark are left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agentops.alerts.evaluation.cycle import evaluate_all
from agentops.alerts.models import Alert
from agentops.budgets.caps import step_cap_create
from agentops.budgets.models import RunawayRun, StepCap
from agentops.budgets.runaway import runaways_record
from agentops.budgets.tasks import record_runaways
from agentops.notify.models import OutboxMessage
from agentops.notify.services import channel_create
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.models import Run

pytestmark = pytest.mark.django_db


def _runaways(project):
    return {r.trace_id.hex: r for r in RunawayRun.objects.filter(project=project)}


def _runaway_alerts(project):
    return list(Alert.objects.filter(project=project, rule__metric="runaway_runs", state__in=Alert.LIVE_STATES))


def test_a_run_past_its_cap_is_recorded_and_alerted_once(personas):
    project = personas.project
    channel_create(project=project, kind="slack", url="https://hooks.example.com/runaway")
    step_cap_create(project=project, data={"agent": "support-bot", "max_steps": 4, "max_tool_calls": 5},
                    user=personas.admin)  # fmt: skip
    looping = make_run(project, AgentTrace(agent="support-bot", llm_calls=5))  # 7 steps
    at_cap = make_run(project, AgentTrace(agent="support-bot", llm_calls=2))  # 4 steps: at the cap, not past
    uncapped = make_run(project, AgentTrace(agent="sales-bot", llm_calls=9))
    theirs = make_run(personas.other_project, AgentTrace(agent="support-bot", llm_calls=9))

    assert runaways_record().recorded == 1
    found = _runaways(project)
    assert set(found) == {looping.trace_hex}
    runaway = found[looping.trace_hex]
    assert (runaway.agent, runaway.cap_name, runaway.cap_value, runaway.value) == ("support-bot", "max_steps", 4, 7)
    assert {at_cap.trace_hex, uncapped.trace_hex, theirs.trace_hex}.isdisjoint(
        r.trace_id.hex for r in RunawayRun.objects.all()
    )
    # The alerts engine's pass opens one alert of the cap's runaway rule, sent to the channel.
    evaluate_all(now=timezone.now())
    (alert,) = _runaway_alerts(project)
    assert (alert.value, alert.severity, alert.runs_filter["runaway"]) == (1.0, "warning", "1")
    assert "runaway_runs 1" in alert.summary
    (message,) = OutboxMessage.objects.filter(project=project, event="opened")
    assert message.payload["alert"]["id"] == alert.pk
    assert _runaway_alerts(personas.other_project) == []

    # The run goes on (more spans land: it is changed again); later passes record and alert nothing new.
    Run.objects.filter(project=project).update(updated_at=timezone.now())
    assert record_runaways() == 0
    assert runaways_record(since=timezone.now() - timedelta(days=1)).recorded == 0
    evaluate_all(now=timezone.now())
    assert RunawayRun.objects.count() == 1 and len(_runaway_alerts(project)) == 1
    assert OutboxMessage.objects.filter(project=project, event="opened").count() == 1
    # An hour on, the window holds no runaway: the alert resolves itself.
    evaluate_all(now=timezone.now() + timedelta(minutes=61))
    assert _runaway_alerts(project) == []


def test_a_pass_reads_only_runs_changed_since_its_watermark(personas):
    project = personas.project
    StepCap.objects.create(project=project, agent="support-bot", max_tokens=1)
    old = make_run(project, AgentTrace(agent="support-bot"))
    Run.objects.filter(project=project).update(updated_at=timezone.now() - timedelta(hours=3))
    assert runaways_record().recorded == 0  # the first pass looks back an hour only
    new = make_run(project, AgentTrace(agent="support-bot"))
    assert runaways_record().recorded == 1
    assert set(_runaways(project)) == {new.trace_hex}
    assert old.trace_hex not in _runaways(project)
    (runaway,) = _runaways(project).values()
    assert runaway.cap_name == "max_tokens" and runaway.value > 1


def test_each_project_with_new_runaways_gets_its_own_alert(personas):
    for project in (personas.project, personas.other_project):
        channel_create(project=project, kind="slack", url="https://hooks.example.com/runaway")
        step_cap_create(project=project, data={"agent": "support-bot", "max_steps": 2}, user=personas.admin)
        for _ in range(3):
            make_run(project, AgentTrace(agent="support-bot"))
    assert runaways_record().recorded == 6
    evaluate_all(now=timezone.now())
    for project in (personas.project, personas.other_project):
        (alert,) = _runaway_alerts(project)
        assert alert.value == 3.0
        assert OutboxMessage.objects.filter(project=project, event="opened").count() == 1


def test_the_first_step_cap_brings_one_runaway_rule_and_no_more(personas):
    from agentops.alerts.models import AlertRule

    project = personas.project
    for agent in ("a", "b"):
        step_cap_create(project=project, data={"agent": agent, "max_steps": 3}, user=personas.admin)
    (rule,) = AlertRule.objects.filter(project=project, metric="runaway_runs")
    assert (rule.kind, rule.warning, rule.is_default, rule.enabled) == ("threshold", 1, True, True)


def test_beat_runs_it_every_minute_and_drops_a_late_one():
    from agentops.celery import app

    (entry,) = [e for e in app.conf.beat_schedule.values() if e["task"] == record_runaways.name]
    assert entry["schedule"] == 60.0
    assert 0 < entry["options"]["expires"] < entry["schedule"]


def test_the_runaway_metric_counts_the_windows_runaways_in_the_rules_scope(personas):
    from agentops.alerts.evaluation.threshold import measure

    project = personas.project
    for agent in ("support-bot", "sales-bot"):
        step_cap_create(project=project, data={"agent": agent, "max_steps": 2}, user=personas.admin)
    for agent, runs in (("support-bot", 2), ("sales-bot", 1)):
        for _ in range(runs):
            make_run(project, AgentTrace(agent=agent))
    make_run(personas.other_project, AgentTrace(agent="support-bot"))
    StepCap.objects.create(project=personas.other_project, agent="support-bot", max_steps=2)
    assert runaways_record().recorded == 4
    now = timezone.now()
    hour = {"since": now - timedelta(hours=1), "now": now}
    assert measure(project.pk, "runaway_runs", {}, **hour).value == 3
    assert measure(project.pk, "runaway_runs", {"agent": "support-bot"}, **hour).value == 2
    # Runs that started before the window are not counted.
    assert (
        measure(project.pk, "runaway_runs", {}, since=now + timedelta(minutes=1), now=now + timedelta(hours=1)).value
        == 0
    )
