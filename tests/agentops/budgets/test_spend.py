"""How a budget's window is spent: traced runs, committed reservations not covered by them (nothing
twice), held reservations until they expire; soft percents notified once per window; the expiry job."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agentops.budgets import reservations, services
from agentops.budgets.models import Reservation
from agentops.budgets.selectors import budget_state
from agentops.budgets.tasks import expire_reservations
from agentops.budgets.windows import Window
from agentops.notify.models import OutboxMessage
from agentops.notify.services import channel_create
from agentops.tenancy.roles import Role
from agentops.tenancy.services import ingest_key_create
from tests.factories import make_member, make_project, make_run
from tests.otlp import AgentTrace
from traces.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    project = make_project()
    admin = make_member(project, Role.ADMIN)
    key = ingest_key_create(project=project).key
    return project, admin, key


def _budget(project, admin, **data):
    return services.budget_create(project=project, data={"window": "day", **data}, user=admin)


def _reserve(project, key, **data):
    return reservations.reservation_reserve(project=project, key=key, data=data)


def _state(budget):
    budget.refresh_from_db()
    return budget_state(budget, timezone.now())


def test_traced_runs_of_the_scope_count_and_others_do_not(setup):
    project, admin, key = setup
    trace = make_run(project, AgentTrace(user="acme", session="s-1"))
    make_run(project, AgentTrace(user="globex", session="s-2"))
    cost = Run.objects.get(trace_id=uuid.UUID(trace.trace_hex)).cost_usd
    assert cost > 0
    for scope in ({"customer": "acme"}, {"session": "s-1"}, {"agent": "support-bot"}, {}):
        budget = _budget(project, admin, limit_usd=1, scope=scope)
        expected = cost if scope.get("customer") or scope.get("session") else 2 * cost
        assert _state(budget).spent_usd == expected, scope
    # A reserve sees it: acme's budget has limit - cost left.
    acme = _budget(project, admin, limit_usd=float(cost) + 0.01, scope={"customer": "acme"})
    assert not _reserve(project, key, estimate_usd=0.02, scope={"customer": "acme"}).allowed
    outcome = _reserve(project, key, estimate_usd=0.005, scope={"customer": "acme"})
    assert outcome.allowed
    assert {s.budget.pk: s.remaining_usd for s in outcome.states}[acme.pk] == Decimal("0.005")


def test_a_committed_reservation_counts_until_its_run_is_traced_then_the_run_counts_once(setup):
    project, admin, key = setup
    budget = _budget(project, admin, limit_usd=10, scope={"customer": "acme"})
    trace = AgentTrace(user="acme")
    held = _reserve(project, key, estimate_usd=1, run_id=trace.trace_hex, scope={"customer": "acme"}).reservation
    assert held is not None
    assert (_state(budget).held_usd, _state(budget).spent_usd) == (1, 0)
    reservations.reservation_commit(key=key, reservation_id=held.pk, actual_usd=3)
    assert (_state(budget).held_usd, _state(budget).spent_usd) == (0, 3)
    make_run(project, trace)  # the run's cost is traced: it counts, and the commit only beyond it
    cost = Run.objects.get(trace_id=uuid.UUID(trace.trace_hex)).cost_usd
    assert cost < 3
    state = _state(budget)
    assert (state.traced_usd, state.committed_usd, state.spent_usd) == (cost, 3 - cost, Decimal(3))


def test_a_commit_without_an_actual_is_settled_by_its_finished_run(setup):
    project, admin, key = setup
    budget = _budget(project, admin, limit_usd=10)
    trace = AgentTrace()
    held = _reserve(project, key, estimate_usd=2, run_id=trace.trace_hex).reservation
    assert held is not None
    reservations.reservation_commit(key=key, reservation_id=held.pk)
    assert _state(budget).spent_usd == 2  # the estimate, until the run is traced
    make_run(project, trace)
    cost = Run.objects.get(trace_id=uuid.UUID(trace.trace_hex)).cost_usd
    assert _state(budget).spent_usd == cost and _state(budget).committed_usd == 0
    # Without a run, a commit with nothing counts its estimate.
    other = _reserve(project, key, estimate_usd=0.5).reservation
    assert other is not None
    reservations.reservation_commit(key=key, reservation_id=other.pk)
    assert _state(budget).spent_usd == cost + Decimal("0.5")


def test_held_reservations_stop_counting_at_expiry_and_the_job_records_it(setup):
    project, admin, key = setup
    budget = _budget(project, admin, limit_usd=1)
    short = _reserve(project, key, estimate_usd=0.6, ttl=60).reservation
    assert short is not None
    assert not _reserve(project, key, estimate_usd=0.6).allowed
    Reservation.objects.filter(pk=short.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _state(budget).held_usd == 0
    assert _reserve(project, key, estimate_usd=0.6).allowed
    assert expire_reservations() == 1
    short.refresh_from_db()
    assert short.state == "expired" and short.settled_at is not None
    assert expire_reservations() == 0
    # Committed late, an expired reservation's spend is still recorded.
    reservations.reservation_commit(key=key, reservation_id=short.pk, actual_usd=0.1)
    assert _state(budget).spent_usd == Decimal("0.1")


def test_the_expiry_job_works_in_bounded_batches(setup):
    project, _, key = setup
    for _ in range(5):
        _reserve(project, key, estimate_usd=0.1, ttl=1)
    later = timezone.now() + timedelta(seconds=5)
    assert reservations.reservations_expire(later, limit=2) == 2
    assert reservations.reservations_expire(later, limit=2) == 2
    assert reservations.reservations_expire(later, limit=2) == 1
    assert Reservation.objects.filter(state="expired").count() == 5


def test_a_soft_percent_notifies_once_per_window(setup):
    project, admin, key = setup
    channel_create(project=project, kind="slack", url="https://hooks.example.com/budgets")
    budget = _budget(project, admin, limit_usd=1, soft_percent=[50, 80])
    _reserve(project, key, estimate_usd=0.4)
    assert not OutboxMessage.objects.filter(event="budget.soft").exists()
    _reserve(project, key, estimate_usd=0.2)  # 60%: crosses 50
    _reserve(project, key, estimate_usd=0.05)  # 65%: nothing new
    messages = list(OutboxMessage.objects.filter(event="budget.soft"))
    assert len(messages) == 1 and messages[0].payload["budget"]["soft_percent"] == 50
    assert "60%" in messages[0].payload["summary"]
    _reserve(project, key, estimate_usd=0.2)  # 85%: crosses 80
    assert sorted(m.payload["budget"]["soft_percent"] for m in OutboxMessage.objects.filter(event="budget.soft")) == [
        50,
        80,
    ]
    # The next window alerts again (its state as the reserve path builds it, a day later).
    state = _state(budget)
    tomorrow = replace(state, window=Window(state.window.start + timedelta(days=1), None))
    assert services.soft_alert(tomorrow, timezone.now()) == 80
    assert services.soft_alert(tomorrow, timezone.now()) is None
    assert OutboxMessage.objects.filter(event="budget.soft").count() == 3
    # An admin's change of the budget sets new levels: they alert afresh.
    services.budget_update(budget=budget, data={"limit_usd": 0.9}, user=admin)
    _reserve(project, key, estimate_usd=0.01)
    assert OutboxMessage.objects.filter(event="budget.soft").count() == 4


def test_a_token_limit_refuses_what_does_not_fit(setup):
    project, admin, key = setup
    _budget(project, admin, limit_usd=100, limit_tokens=15_000)
    assert _reserve(project, key, model="gpt-4o", max_tokens=10_000).allowed
    refused = _reserve(project, key, model="gpt-4o", max_tokens=10_000)
    assert not refused.allowed and "tokens" in (refused.reason or "")
