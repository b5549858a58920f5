"""agentops.client.budgets against a real `agentops web` (gunicorn on the test database): a block runs
only with a reservation, commits what it spent (or nothing: the run's cost settles it), releases on an
exception, raises BudgetExceeded past a hard budget or a run's step cap without running the block, and a
POST retried after a lost answer reserves once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from agentops.budgets.models import Budget, Reservation, StepCap
from agentops.client import BudgetError, BudgetExceeded, budget
from agentops.tenancy.services import ingest_key_create
from tests.agentops.client.conftest import FaultyProxy
from tests.agentops.conftest import UpProcess
from tests.conftest import Personas
from tests.factories import make_run
from tests.otlp import AgentTrace
from tests.traces.servers import serve

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def web(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    def healthy(process: UpProcess) -> bool:
        try:
            return requests.get(process.url("/healthz"), timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    home = tmp_path_factory.mktemp("web") / "home"
    with serve("web", home, "--workers", "1", "--threads", "2", ready=healthy) as process:
        yield process


@pytest.fixture
def agent(web: UpProcess, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> str:
    """The agent's environment, as a deployed agent has it; returns the key's secret."""
    secret = ingest_key_create(project=personas.project, name="agent").secret
    monkeypatch.setenv("AGENTOPS_URL", web.url(""))
    monkeypatch.setenv("AGENTOPS_INGEST_KEY", secret)
    return secret


def _stored(reservation_id: int | None) -> Reservation:
    assert reservation_id is not None, "the block ran without a reservation"
    return Reservation.objects.get(pk=reservation_id)


def _budget(personas: Personas, limit: str = "1", **extra: Any) -> Budget:
    return Budget.objects.create(
        project=personas.project, scope_kind="customer", scope_value="acme", limit_usd=Decimal(limit), window="day",
        **extra,
    )  # fmt: skip


def test_a_block_reserves_then_commits_what_it_spent(personas: Personas, agent: str) -> None:
    _budget(personas)
    with budget(customer="acme", agent="support-bot", estimate=0.05, ttl=120) as b:
        assert b.id is not None and b.remaining[0]["remaining_usd"] == pytest.approx(0.95)
        assert _stored(b.id).state == "held"
        b.actual = 0.031
    reservation = _stored(b.id)
    assert (reservation.state, reservation.actual_usd, reservation.customer) == ("committed", Decimal("0.031"), "acme")
    assert reservation.idempotency_key and reservation.expires_at > reservation.created_at
    # Without an amount the run's traced cost settles it.
    with budget(customer="acme", model="gpt-4o-mini", max_tokens=1000) as priced:
        pass
    settled = _stored(priced.id)
    assert settled.state == "committed" and settled.actual_usd is None and settled.tokens == 1000


def test_an_exception_releases_and_goes_on(personas: Personas, agent: str) -> None:
    _budget(personas)
    with pytest.raises(ZeroDivisionError), budget(customer="acme", estimate=0.2) as b:
        1 / 0  # noqa: B018
    assert _stored(b.id).state == "released"


def test_past_a_hard_budget_the_block_does_not_run(personas: Personas, agent: str) -> None:
    _budget(personas, limit="0.10")
    ran = []
    with pytest.raises(BudgetExceeded) as refused, budget(customer="acme", estimate=0.25):
        ran.append(True)
    # Nothing held: the refusal is kept only to answer a retry of its idempotency key the same.
    assert not ran and list(Reservation.objects.values_list("state", flat=True)) == ["refused"]
    assert "$0.10 left" in refused.value.reason or "0.100000" in refused.value.reason
    assert refused.value.remaining[0]["remaining_usd"] == pytest.approx(0.10)


def test_a_run_at_its_step_cap_is_refused(personas: Personas, agent: str) -> None:
    run = make_run(personas.project, AgentTrace(agent="support-bot", llm_calls=4))  # 6 steps
    StepCap.objects.create(project=personas.project, agent="support-bot", max_steps=5)
    with pytest.raises(BudgetExceeded) as refused, budget(agent="support-bot", estimate=0.01, run_id=run.trace_hex):
        pytest.fail("the block ran")
    assert "max_steps 5" in refused.value.reason


def test_a_retried_reserve_reserves_once(personas: Personas, agent: str, web: UpProcess) -> None:
    """The server reserves, the answer is lost; the client's retry carries the same idempotency key."""
    _budget(personas)
    proxy = FaultyProxy(web.url(""), fault=lambda method, path, n: "drop" if n == 0 else None)
    try:
        with budget(customer="acme", estimate=0.4, url=proxy.url) as b:
            b.commit(0.3)
    finally:
        proxy.close()
    assert [(s.method, s.status) for s in proxy.seen][:2] == [("POST", None), ("POST", 200)]
    (reservation,) = Reservation.objects.all()
    assert reservation.pk == b.id and reservation.state == "committed" and reservation.actual_usd == Decimal("0.3")


def test_async_with_and_bad_input(personas: Personas, agent: str) -> None:
    _budget(personas)

    async def spend() -> int | None:
        async with budget(customer="acme", estimate=0.05) as b:
            b.actual = 0.01
        return b.id

    # In a thread of its own: Playwright's sync API leaves an event loop running in this one when a
    # browser test ran earlier in the same worker, and asyncio.run refuses to nest.
    with ThreadPoolExecutor(1) as pool:
        reservation_id = pool.submit(asyncio.run, spend()).result()
    assert _stored(reservation_id).actual_usd == Decimal("0.01")
    with pytest.raises(BudgetError) as bad:
        budget(customer="acme", estimate=0.05, model="gpt-4o-mini")
    assert bad.value.field == "estimate"
    with pytest.raises(BudgetError) as negative, budget(customer="acme", estimate=-1):
        pass
    assert negative.value.status == 400 and negative.value.field == "estimate_usd"
