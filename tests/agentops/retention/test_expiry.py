"""The daily job end to end: payloads, steps and runs expire by each project's policy; metrics, rollups,
protected runs and other projects stay."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agentops.approvals.models import ApprovalRequest
from agentops.goldens.rule_models import ReviewItem
from agentops.goldens.rules import rule_create
from agentops.goldens.services import case_add, golden_set_create
from agentops.retention.models import Pin
from agentops.retention.services import retention_apply
from agentops.retention.tasks import apply_retention
from tests.agentops.alerts.alert_factories import make_alert
from tests.agentops.retention.helpers import gone, metrics, old_run, partitions, set_policy, steps_of
from tests.factories import make_project
from traces import rollups
from traces.models import Run, RunHour

pytestmark = pytest.mark.django_db


def _hours(project):
    return sorted(RunHour.objects.filter(project=project).values_list("hour", "runs", "steps", "cost_usd"))


def test_three_day_payload_retention_keeps_metrics_and_loses_old_payloads():
    project, other = make_project(), make_project()
    set_policy(project, payload=3)
    set_policy(other)  # keeps everything for ever
    old, recent = old_run(project, days=5), old_run(project, days=1)
    others_old = old_run(other, days=5)
    rollups.refresh()
    before = {"old": metrics(old), "recent": metrics(recent), "hours": _hours(project)}
    assert steps_of(old).exclude(input=None).exists() and old.input_preview

    done = retention_apply(now=timezone.now())

    assert metrics(old) == before["old"] and metrics(recent) == before["recent"]
    assert old.input_preview == "" and old.output_preview == ""
    assert steps_of(old).count() == old.step_count  # steps kept, only their payloads cleared
    assert not steps_of(old).exclude(input=None).exists()
    assert not steps_of(old).exclude(output=None).exists()
    assert not steps_of(old).exclude(attributes={}).exists()
    assert steps_of(old).filter(kind="LLM").exclude(model=None).count() == 2  # what metrics need stays
    # The recent run and the other project are untouched.
    assert recent.input_preview and steps_of(recent).exclude(input=None).exists()
    others_old.refresh_from_db()
    assert others_old.input_preview and steps_of(others_old).exclude(input=None).exists()
    rollups.refresh()
    assert _hours(project) == before["hours"]
    assert done.payload_runs == 1 and done.payload_steps == old.step_count
    # A second day finds nothing more to do.
    again = retention_apply(now=timezone.now())
    assert (again.payload_steps, again.payload_runs) == (0, 0)


def test_a_late_span_of_an_old_run_loses_its_payload_the_next_day():
    project = make_project()
    set_policy(project, payload=3)
    old = old_run(project, days=5)
    retention_apply(now=timezone.now())
    # The job has walked past the run; a span arrives for it now (as a retry would).
    from tests.factories import make_run
    from tests.otlp import AgentTrace

    late = AgentTrace(trace_id=old.trace_id.bytes, start_ns=int(old.start_time.timestamp() * 1e9) + 10**9)
    make_run(project, late)
    assert steps_of(old).exclude(input=None).exists()
    retention_apply(now=timezone.now())
    assert not steps_of(old).exclude(input=None).exists()


def test_steps_then_runs_expire_and_the_rollups_stay():
    project = make_project()
    set_policy(project, payload=2, step=5, run=10)
    kept, stepless, expired = old_run(project, days=3), old_run(project, days=7), old_run(project, days=12)
    rollups.refresh()
    hours = _hours(project)
    stepless_metrics = metrics(stepless)

    done = retention_apply(now=timezone.now())

    assert steps_of(kept).count() == kept.step_count
    assert not steps_of(stepless).exists() and metrics(stepless) == stepless_metrics
    assert gone(expired)
    # Steps are counted when deleted row by row; a month's partition past every project's step
    # retention may have gone whole (see the partition tests), as it may here depending on the date.
    assert done.runs == 1
    assert done.partitions or done.steps == stepless.step_count + expired.step_count
    rollups.refresh()
    assert _hours(project) == hours  # the dashboards still count the expired run


def _golden_pin(project, run):
    golden = golden_set_create(project=project, user=None, data={"name": "pins"})
    case_add(golden_set=golden, user=None, data={"input": "x", "source_trace_id": run.trace_id.hex}, payloads=True)


def _approval_pin(project, run, state=ApprovalRequest.State.PENDING):
    from agentops.approvals.services import approval_request_create
    from agentops.tenancy.services import ingest_key_create

    key = ingest_key_create(project=project).key
    data = {"action": "refund", "arguments": {}, "trace_id": run.trace_id.hex}
    request = approval_request_create(project=project, data=data, key=key)[0]
    ApprovalRequest.objects.filter(pk=request.pk).update(state=state)


def test_protected_runs_of_every_kind_survive(admin_user_of):
    project = make_project()
    set_policy(project, payload=1, step=1, run=1)
    by_golden = old_run(project, days=4)
    by_approval = old_run(project, days=4)
    by_alert = old_run(project, days=4, agent="alerting-agent")
    by_admin = old_run(project, days=4)
    by_review = old_run(project, days=4)  # waiting in the golden review queue
    decided = old_run(project, days=4)  # its approval was decided: not protected
    reviewed = old_run(project, days=4)  # its review item was discarded: not protected
    resolved = old_run(project, days=4, agent="resolved-agent")  # its alert is resolved: not protected
    unprotected = old_run(project, days=4)
    _golden_pin(project, by_golden)
    _approval_pin(project, by_approval)
    _approval_pin(project, decided, ApprovalRequest.State.APPROVED)
    make_alert(project, scope={"agent": "alerting-agent"}, runs_filter={"agent": "alerting-agent"})
    make_alert(project, scope={"agent": "resolved-agent"}, runs_filter={"agent": "resolved-agent"}, state="resolved")
    Pin.objects.create(project=project, trace_id=by_admin.trace_id, reason="incident 12")
    golden = golden_set_create(project=project, user=None, data={"name": "queue"})
    rule = rule_create(
        project=project, user=None, data={"name": "sample", "golden_set": golden.name, "sample_rate": 10}
    )
    ReviewItem.objects.create(rule=rule, project=project, trace_id=by_review.trace_id)
    ReviewItem.objects.create(rule=rule, project=project, trace_id=reviewed.trace_id, state=ReviewItem.State.DISCARDED)

    apply_retention()  # the beat task itself

    for run in (by_golden, by_approval, by_alert, by_admin, by_review):
        run.refresh_from_db()
        assert run.input_preview, run  # not even the payloads
        assert steps_of(run).count() == run.step_count and steps_of(run).exclude(input=None).exists()
    for run in (decided, resolved, reviewed, unprotected):
        assert gone(run)


def test_a_partition_past_every_projects_step_retention_is_dropped_unless_it_holds_a_pinned_run():
    project, other = make_project(), make_project()
    set_policy(project, payload=10, step=20, run=400)
    set_policy(other, payload=10, step=30, run=400)
    pinned, plain = old_run(project, days=100), old_run(project, days=100)
    name = next(p for p in partitions() if _holds_run(p, plain))
    Pin.objects.create(project=project, trace_id=pinned.trace_id)

    done = retention_apply(now=timezone.now())

    assert name in partitions() and name not in done.partitions  # the pinned run's steps are in it
    assert steps_of(pinned).count() == pinned.step_count
    assert not steps_of(plain).exists()  # deleted row by row instead
    assert Run.objects.filter(pk=plain.pk).exists()  # runs are kept 400 days

    Pin.objects.all().delete()
    done = retention_apply(now=timezone.now())
    assert name in done.partitions and name not in partitions()
    assert not steps_of(pinned).exists() and Run.objects.filter(pk=pinned.pk).exists()


def test_no_partition_is_dropped_while_a_project_keeps_steps_for_ever():
    project, other = make_project(), make_project()
    set_policy(project, payload=10, step=20, run=400)
    set_policy(other, payload=10)  # steps for ever
    run = old_run(project, days=100)
    before = partitions()

    done = retention_apply(now=timezone.now())

    assert done.partitions == [] and partitions() == before
    assert not steps_of(run).exists()  # the project's own steps still expire, in batches


def _holds_run(partition, run):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {partition} WHERE trace_id = %s)", [run.trace_id])
        return cursor.fetchone()[0]
