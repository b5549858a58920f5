"""32 agents reserving at once, each in its own thread and database connection, against a real
Postgres: the budgets' row locks never let a hard budget go past its limit."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from agentops.budgets import reservations, services
from agentops.budgets.models import Reservation
from agentops.tenancy.roles import Role
from agentops.tenancy.services import ingest_key_create
from tests.factories import make_member, make_project

THREADS = 32


def _race(project, keys, bodies):
    barrier = threading.Barrier(len(bodies))
    outcomes: list[tuple[bool, Decimal]] = []
    errors: list[BaseException] = []

    def run(key, body):
        try:
            barrier.wait()
            outcome = reservations.reservation_reserve(project=project, key=key, data=body)
            outcomes.append((outcome.allowed, Decimal(str(body["estimate_usd"]))))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(keys[i % len(keys)], body)) for i, body in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_32_agents_at_once_never_take_a_hard_budget_past_its_limit():
    project = make_project()
    admin = make_member(project, Role.ADMIN)
    services.budget_create(project=project, data={"limit_usd": 1.0, "window": "day"}, user=admin)
    keys = [ingest_key_create(project=project).key for _ in range(4)]
    outcomes = _race(project, keys, [{"estimate_usd": 0.1, "scope": {"agent": f"a{i}"}} for i in range(THREADS)])
    allowed = [amount for ok, amount in outcomes if ok]
    assert len(outcomes) == THREADS
    # Exactly as many as fit: ten of 0.10 in 1.00, the other 22 refused.
    assert len(allowed) == 10 and sum(allowed) == Decimal("1.0")
    held = Reservation.objects.filter(project=project, state="held")
    assert held.count() == 10 and sum(r.amount_usd for r in held) == Decimal("1.0")


@pytest.mark.django_db(transaction=True)
def test_overlapping_budgets_taken_in_any_order_neither_deadlock_nor_overspend():
    """Half the agents name a customer with its own budget, all share the project's: each reserve locks
    both in id order, so none waits on another in a cycle, and both limits hold."""
    project = make_project()
    admin = make_member(project, Role.ADMIN)
    services.budget_create(project=project, data={"limit_usd": 2.0, "window": "month"}, user=admin)
    services.budget_create(
        project=project, data={"limit_usd": 0.75, "window": "day", "scope": {"customer": "acme"}}, user=admin
    )
    key = ingest_key_create(project=project).key
    bodies = [
        {"estimate_usd": 0.25, "scope": {"customer": "acme" if i % 2 else f"c{i}"}, "idempotency_key": f"k{i}"}
        for i in range(THREADS)
    ]
    outcomes = _race(project, [key], bodies)
    assert len(outcomes) == THREADS
    held = Reservation.objects.filter(project=project, state="held")
    # The project's budget fills (8 of 0.25: more than 8 ask, whichever customer); acme takes at most 3
    # of them, how many depending on who reached the locks first.
    assert held.count() == 8 and sum(r.amount_usd for r in held) == Decimal("2.0")
    assert held.filter(customer="acme").count() <= 3
    # Every refusal named its idempotency key, so each was recorded, to answer its retry the same.
    assert Reservation.objects.filter(project=project, state="refused").count() == THREADS - 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_idempotency_key_hold_once():
    project = make_project()
    admin = make_member(project, Role.ADMIN)
    services.budget_create(project=project, data={"limit_usd": 1.0, "window": "day"}, user=admin)
    key = ingest_key_create(project=project).key
    outcomes = _race(project, [key], [{"estimate_usd": 0.4, "idempotency_key": "same"} for _ in range(8)])
    assert all(ok for ok, _ in outcomes)
    assert Reservation.objects.filter(project=project).count() == 1
