"""The runaway job (agentops.budgets.runaway): runs past their agent's step cap are recorded once, with
the cap and the run's value, and each pass alerts a project's channels once; runs below their cap, of
an agent without one, or not changed since the watermark are left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

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


def test_a_run_past_its_cap_is_recorded_and_alerted_once(personas):
    project = personas.project
    channel_create(project=project, kind="slack", url="https://hooks.example.com/runaway")
    StepCap.objects.create(project=project, agent="support-bot", max_steps=4, max_tool_calls=5)
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
    (message,) = OutboxMessage.objects.filter(event="budget.runaway")
    assert message.project_id == project.pk and message.payload["runaways"] == 1
    assert message.payload["runs"][0]["trace_id"] == looping.trace_hex
    assert "max_steps 4" in message.payload["summary"] and message.payload["url"].endswith("/runs/?runaway=1")

    # The run goes on (more spans land: it is changed again); later passes record and alert nothing new.
    Run.objects.filter(project=project).update(updated_at=timezone.now())
    assert record_runaways() == 0
    assert runaways_record(since=timezone.now() - timedelta(days=1)).recorded == 0
    assert RunawayRun.objects.count() == 1 and OutboxMessage.objects.filter(event="budget.runaway").count() == 1


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


def test_each_project_with_new_runaways_gets_one_alert_a_pass(personas):
    for project in (personas.project, personas.other_project):
        channel_create(project=project, kind="slack", url="https://hooks.example.com/runaway")
        StepCap.objects.create(project=project, agent="support-bot", max_steps=2)
        for _ in range(3):
            make_run(project, AgentTrace(agent="support-bot"))
    assert runaways_record().recorded == 6
    messages = OutboxMessage.objects.filter(event="budget.runaway")
    assert sorted(m.project_id for m in messages) == sorted([personas.project.pk, personas.other_project.pk])
    assert all(m.payload["runaways"] == 3 and len(m.payload["runs"]) == 3 for m in messages)


def test_beat_runs_it_every_minute_and_drops_a_late_one():
    from agentops.celery import app

    (entry,) = [e for e in app.conf.beat_schedule.values() if e["task"] == record_runaways.name]
    assert entry["schedule"] == 60.0
    assert 0 < entry["options"]["expires"] < entry["schedule"]
