"""The sampling pass (agentops.goldens.rules_sampling) over real runs stored through the ingest pipeline."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from agentops.goldens.models import GoldenCase, ReviewItem, SamplingRule
from agentops.goldens.rules import FILTER_PARAMS, rule_create, rule_update, sampled
from agentops.goldens.rules_sampling import rules_advance
from agentops.goldens.services import golden_set_create
from agentops.goldens.tasks import sample_runs
from agentops.tenancy.models import AuditEvent
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.filters import RunFilters
from traces.models import IngestPolicy, Run

pytestmark = pytest.mark.django_db


def _later():
    # Past the pass's settling delay: every run stored so far is due.
    return timezone.now() + timedelta(minutes=5)


def _rule(personas, **data):
    if not hasattr(personas, "_set"):
        personas._set = golden_set_create(project=personas.project, user=personas.engineer, data={"name": "prod"})
    body = {"name": "failures", "golden_set": "prod", "sample_rate": 100, **data}
    return rule_create(project=personas.project, user=personas.engineer, data=body)


def _queued(rule):
    return {item.trace_id.hex for item in ReviewItem.objects.filter(rule=rule)}


def test_the_filter_params_are_every_run_list_filter():
    # RunFilters names from/to start_from/start_to; the rest are the parameters' own names.
    assert len(FILTER_PARAMS) == len(fields(RunFilters))


def test_sampling_is_deterministic_nested_and_near_the_rate():
    ids = [uuid.UUID(int=i) for i in range(20_000)]  # sequential ids: hashed, they still spread
    ten = {t for t in ids if sampled(t, Decimal("10"))}
    assert 0.09 < len(ten) / len(ids) < 0.11
    assert ten == {t for t in ids if sampled(t, Decimal("10"))}
    assert ten <= {t for t in ids if sampled(t, Decimal("25.5"))}
    assert all(sampled(t, Decimal("100")) for t in ids[:500])


def test_only_finished_matching_runs_are_queued_once(personas):
    rule = _rule(personas, filter="status=error&agent=support-bot")
    every = _rule(personas, name="every-run", filter="")
    failed = make_run(personas.project, AgentTrace(tool_error=True))
    ok = make_run(personas.project, AgentTrace())  # ok: not matched
    other = make_run(personas.project, AgentTrace(tool_error=True, agent="other-bot"))  # another agent
    unfinished = AgentTrace(tool_error=True)
    root = unfinished.spans[0]
    unfinished.spans = unfinished.spans[1:]
    make_run(personas.project, unfinished)  # no root span yet: unfinished

    result = rules_advance(now=_later())
    assert _queued(rule) == {failed.trace_hex}
    assert _queued(every) == {failed.trace_hex, ok.trace_hex, other.trace_hex}
    assert (result.queued, result.accepted) == (4, 0)

    # The root arrives: the run finishes, changes, and is read again from the cursor.
    unfinished.spans = [root]
    make_run(personas.project, unfinished)
    rules_advance(now=_later())
    assert _queued(rule) == {failed.trace_hex, unfinished.trace_hex}
    assert unfinished.trace_hex in _queued(every)
    # A re-run, and a rewound cursor reading every run again, queue nothing twice.
    rule.refresh_from_db()
    rule.cursor_at, rule.cursor_id = rule.created_at - timedelta(days=1), 0
    rule.save()
    assert rules_advance(now=_later()).queued == 0
    assert ReviewItem.objects.filter(rule=rule).count() == 2
    assert ReviewItem.objects.filter(rule=every).count() == 4
    assert set(ReviewItem.objects.values_list("state", flat=True)) == {"pending"}


def test_runs_still_settling_wait_for_a_later_pass(personas):
    rule = _rule(personas)
    make_run(personas.project, AgentTrace())
    assert rules_advance(now=timezone.now()).queued == 0  # younger than SETTLE
    assert rules_advance(now=_later()).queued == 1
    rule.refresh_from_db()
    assert rule.cursor_id > 0


def test_a_rate_samples_about_its_share_and_the_same_runs_on_a_rerun(personas):
    rule = _rule(personas, sample_rate=30)
    traces = [make_run(personas.project, AgentTrace(llm_calls=0)) for _ in range(120)]
    # Small batches: the pass walks the runs in several and stops at max_batches for the next pass.
    first = rules_advance(now=_later(), batch=25, max_batches=2)
    assert first.runs == 50
    rules_advance(now=_later(), batch=25)
    queued = _queued(rule)
    expected = {t.trace_hex for t in traces if sampled(uuid.UUID(t.trace_hex), Decimal(30))}
    assert queued == expected
    assert 20 <= len(queued) <= 55  # 30% of 120 is 36
    rule.refresh_from_db()
    rule.cursor_at, rule.cursor_id = rule.created_at - timedelta(days=1), 0
    rule.save()
    rules_advance(now=_later())
    assert _queued(rule) == queued


def test_disabled_rules_and_other_projects_runs_are_left(personas):
    rule = _rule(personas)
    rule_update(rule=rule, user=personas.engineer, data={"enabled": False})
    make_run(personas.project, AgentTrace())
    make_run(personas.other_project, AgentTrace())
    assert rules_advance(now=_later()).queued == 0
    rule_update(rule=rule, user=personas.engineer, data={"enabled": True})
    rules_advance(now=_later())
    assert ReviewItem.objects.filter(rule=rule).count() == 1


def test_auto_accept_adds_cases_as_the_system(personas):
    rule = _rule(personas, auto_accept=True, filter="status=error")
    failed = [make_run(personas.project, AgentTrace(tool_error=True)) for _ in range(2)]
    make_run(personas.project, AgentTrace())
    # The task reads the clock: age the runs (and the rule's start) past the settling delay.
    Run.objects.filter(project=personas.project).update(updated_at=F("updated_at") - timedelta(minutes=5))
    SamplingRule.objects.filter(pk=rule.pk).update(cursor_at=F("cursor_at") - timedelta(minutes=5))
    result = sample_runs.apply().get()  # the beat task, run in this process
    assert result == 2
    items = list(ReviewItem.objects.filter(rule=rule).select_related("case"))
    assert {i.state for i in items} == {"accepted"}
    cases = GoldenCase.objects.filter(golden_set=rule.golden_set)
    assert {c.source_trace_id.hex for c in cases} == {t.trace_hex for t in failed}  # type: ignore[union-attr]
    assert all(c.added_by is None and c.reviewed_by is None for c in cases)
    assert {i.case_id for i in items} == {c.pk for c in cases}
    rule.golden_set.refresh_from_db()
    assert rule.golden_set.version == 2
    events = AuditEvent.objects.filter(project=personas.project, action="golden_case.add")
    assert {e.actor_kind for e in events} == {"system"}
    assert all(e.actor_label.startswith("system (task agentops.goldens.tasks.sample_runs") for e in events)


def test_auto_accept_leaves_a_run_it_cannot_add_for_a_person(personas):
    rule = _rule(personas, auto_accept=True)
    IngestPolicy.objects.update_or_create(project=personas.project, defaults={"drop_content": True})
    make_run(personas.project, AgentTrace())
    rules_advance(now=_later())
    item = ReviewItem.objects.get(rule=rule)
    assert item.state == "pending" and item.case is None
    assert item.note.startswith("not added automatically: input:")
    assert not GoldenCase.objects.filter(golden_set=rule.golden_set).exists()
