"""agentops.client against the real API (live_server): each outcome of a request, the decorator, the
transport's retries, and the trace context from a real OpenTelemetry SDK span."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
import typing
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from opentelemetry.sdk.trace import TracerProvider

from agentops.approvals import services
from agentops.approvals.models import ApprovalRequest
from agentops.client import (
    Approval,
    ApprovalCancelled,
    ApprovalDenied,
    ApprovalError,
    ApprovalExpired,
    ApprovalRejected,
    ApprovalTimeout,
    require_approval,
    requires_approval,
)
from agentops.client.transport import configured
from tests.agentops.client.conftest import DEADLINE, Agent, FaultyProxy

pytestmark = pytest.mark.django_db(transaction=True)

REFUND = {"order": "A-100", "amount": 30}


def _ask(agent: Agent, url: str | None = None, **options: Any) -> Any:
    return agent.ask(
        require_approval,
        "refund",
        REFUND,
        url=url or agent.url,
        key=agent.key,
        timeout=options.pop("timeout", DEADLINE),
        **options,
    )


def _decide(agent: Agent, approval: ApprovalRequest, decision: str, comment: str = "", arguments: Any = None) -> None:
    services.approval_decide(
        project=agent.project,
        approval_id=approval.pk,
        reviewer=agent.reviewer,
        decision=decision,
        comment=comment,
        arguments=arguments,
    )


def test_an_approval_returns_the_arguments_as_asked(agent: Agent) -> None:
    future = _ask(agent, summary="Refund order A-100", risk="high")
    asked = agent.request(future)
    assert (asked.action, asked.arguments, asked.risk, asked.summary) == (
        "refund",
        REFUND,
        "high",
        "Refund order A-100",
    )
    assert asked.idempotency_key  # one per call, made by the client
    _decide(agent, asked, "approve", "fine")

    approval = future.result(timeout=DEADLINE)
    assert isinstance(approval, Approval)
    assert (approval.id, approval.state, approval.arguments, approval.edited) == (asked.pk, "approved", REFUND, False)
    assert approval.original_arguments == REFUND
    assert [(d["reviewer"], d["decision"], d["comment"]) for d in approval.decisions] == [
        (agent.reviewer.email, "approve", "fine")
    ]
    assert approval.raw["action"] == "refund"


def test_the_decorated_tool_runs_with_the_reviewers_edit(agent: Agent) -> None:
    calls: list[tuple[str, int, str]] = []

    @requires_approval(
        risk="high", url=agent.url, key=agent.key, timeout=DEADLINE, summary=lambda a: f"Refund {a['order']}"
    )
    def refund(order: str, amount: int, currency: str = "EUR") -> str:
        calls.append((order, amount, currency))
        return "refunded"

    future = agent.ask(refund, "A-100", amount=300)
    asked = agent.request(future)
    # Bound by name, defaults included: the reviewer sees every value the call will run with.
    assert (asked.action, asked.arguments) == ("refund", {"order": "A-100", "amount": 300, "currency": "EUR"})
    assert (asked.summary, asked.risk) == ("Refund A-100", "high")
    assert calls == []  # nothing runs before the decision
    _decide(agent, asked, "approve", "30 is what they paid", {"order": "A-100", "amount": 30, "currency": "EUR"})

    assert future.result(timeout=DEADLINE) == "refunded"
    assert calls == [("A-100", 30, "EUR")]


def test_a_rejection_raises_with_the_reviewers_reason_and_the_tool_does_not_run(agent: Agent) -> None:
    calls = []

    @requires_approval("delete_customer", url=agent.url, key=agent.key, timeout=DEADLINE)
    def delete(customer_id: int) -> None:
        calls.append(customer_id)

    future = agent.ask(delete, 7)
    _decide(agent, agent.request(future), "reject", "customer 7 has open orders")

    with pytest.raises(ApprovalRejected) as raised:
        future.result(timeout=DEADLINE)
    assert raised.value.comments == ["customer 7 has open orders"]
    assert "customer 7 has open orders" in str(raised.value) and agent.reviewer.email in str(raised.value)
    assert calls == []


def test_an_expired_request_raises_expired(agent: Agent) -> None:
    future = _ask(agent, expires_in=10)
    asked = agent.request(future)
    # The expiry job, run as beat runs it, as if its 10 s had passed.
    assert services.approvals_expire(timezone.now() + timedelta(seconds=11)) == {"expired": 1, "escalated": 0}

    with pytest.raises(ApprovalExpired) as raised:
        future.result(timeout=DEADLINE)
    assert raised.value.approval_id == asked.pk and raised.value.raw["state"] == "expired"


def test_a_cancelled_request_raises_cancelled(agent: Agent) -> None:
    future = _ask(agent)
    asked = agent.request(future)
    services.approval_cancel(project=agent.project, approval_id=asked.pk, key=agent.ingest_key)

    with pytest.raises(ApprovalCancelled):
        future.result(timeout=DEADLINE)


def test_the_callers_timeout_cancels_the_request_and_denies(agent: Agent) -> None:
    with pytest.raises(ApprovalTimeout) as raised:
        require_approval("refund", REFUND, url=agent.url, key=agent.key, timeout=1.5)
    assert isinstance(raised.value, ApprovalDenied)  # fail closed: a timeout is a denial, not an error
    (asked,) = ApprovalRequest.objects.filter(project=agent.project)
    assert asked.state == "cancelled" and raised.value.approval_id == asked.pk


def test_bad_input_raises_at_once_naming_the_field_and_creates_nothing(agent: Agent, proxy: FaultyProxy) -> None:
    with pytest.raises(ApprovalError) as raised:
        require_approval("refund", REFUND, risk="extreme", url=proxy.url, key=agent.key, timeout=DEADLINE)
    assert (raised.value.status, raised.value.field) == (400, "risk")
    assert "low, medium, high" in raised.value.detail
    with pytest.raises(ApprovalError) as raised:
        require_approval("refund", REFUND, url=proxy.url, key="aok_not-a-key", timeout=DEADLINE)
    assert raised.value.status in (401, 403)
    assert not ApprovalRequest.objects.exists()
    assert [s.method for s in proxy.seen] == ["POST", "POST"]  # neither was retried


def test_arguments_that_are_not_json_raise_before_asking(agent: Agent, proxy: FaultyProxy) -> None:
    @requires_approval(url=proxy.url, key=agent.key)
    def send(to: tuple[str, ...]) -> None:
        raise AssertionError("must not run")

    with pytest.raises(TypeError, match="plain JSON"):
        send(("a@example.com",))  # a tuple comes back a list: the reviewer would see something else
    with pytest.raises(TypeError, match="must be JSON"):
        send(object())
    with pytest.raises(ApprovalError, match="arguments"):
        require_approval("send", {"at": timezone.now()}, url=proxy.url, key=agent.key)
    assert proxy.seen == []


def test_a_post_retried_after_a_dropped_answer_makes_one_request(agent: Agent, proxy: FaultyProxy) -> None:
    # The first POST reaches the server, which stores the request; its answer is lost on the way back.
    proxy.fault = lambda method, path, n: "drop" if method == "POST" and n == 0 else None
    future = _ask(agent, url=proxy.url)
    asked = agent.request(future)
    _decide(agent, asked, "approve", "ok")

    assert future.result(timeout=DEADLINE).id == asked.pk
    assert ApprovalRequest.objects.filter(project=agent.project).count() == 1
    posts = [s for s in proxy.seen if s.method == "POST"]
    assert [s.status for s in posts] == [None, 200]  # the retry is answered with the same request


def test_busy_answers_are_retried_after_their_retry_after(agent: Agent, proxy: FaultyProxy) -> None:
    proxy.fault = lambda method, path, n: (503, {"Retry-After": "1"}) if n == 0 else None
    future = _ask(agent, url=proxy.url)
    _decide(agent, agent.request(future), "approve", "ok")
    assert future.result(timeout=DEADLINE).state == "approved"

    posts = [s for s in proxy.seen if s.method == "POST"]
    assert [s.status for s in posts] == [503, 201]
    assert posts[1].at - posts[0].at >= 1.0


def test_the_client_never_asks_more_than_once_a_second(agent: Agent, proxy: FaultyProxy) -> None:
    # A server that answers a pending request at once, whatever the ?wait= (as before the long-poll).
    proxy.strip_wait = True
    future = _ask(agent, url=proxy.url)
    asked = agent.request(future)
    end = time.monotonic() + DEADLINE
    while len([s for s in proxy.seen if s.method == "GET"]) < 4 and time.monotonic() < end:
        assert not future.done()
        time.sleep(0.1)
    _decide(agent, asked, "approve", "ok")
    future.result(timeout=DEADLINE)

    gets = [s for s in proxy.seen if s.method == "GET"]
    assert len(gets) >= 4 and all("?wait=" in s.path for s in gets)
    assert all(b.at - a.at >= 0.99 for a, b in itertools.pairwise(gets)), [s.at for s in gets]


def test_the_request_is_tied_to_the_current_span(agent: Agent) -> None:
    tracer = TracerProvider().get_tracer("tests.client")
    with tracer.start_as_current_span("execute_tool refund") as span:
        future = agent.ask(
            _in_context(require_approval), "refund", REFUND, url=agent.url, key=agent.key, timeout=DEADLINE
        )
        asked = agent.request(future)
        context = span.get_span_context()
    assert (asked.trace_id, asked.span_id) == (format(context.trace_id, "032x"), format(context.span_id, "016x"))
    _decide(agent, asked, "approve", "ok")
    future.result(timeout=DEADLINE)


def test_an_async_tool_waits_in_a_thread_and_keeps_the_span(agent: Agent) -> None:
    tracer = TracerProvider().get_tracer("tests.client")
    ticks = 0

    @requires_approval("refund", url=agent.url, key=agent.key, timeout=DEADLINE)
    async def refund(order: str, amount: int) -> int:
        return amount

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.05)

    async def main() -> tuple[int, str, str]:
        with tracer.start_as_current_span("execute_tool refund") as span:
            beat = asyncio.create_task(heartbeat())
            result = await refund("A-100", amount=300)
            beat.cancel()
            context = span.get_span_context()
            return result, format(context.trace_id, "032x"), format(context.span_id, "016x")

    future = agent.ask(asyncio.run, main())
    asked = agent.request(future)
    seen = ticks
    end = time.monotonic() + DEADLINE
    while ticks <= seen + 2 and time.monotonic() < end:  # the loop goes on while the tool waits
        assert not future.done()
        time.sleep(0.05)
    assert ticks > seen + 2
    _decide(agent, asked, "approve", "ok", {"order": "A-100", "amount": 30})

    result, trace_id, span_id = future.result(timeout=DEADLINE)
    assert result == 30
    assert (asked.trace_id, asked.span_id) == (trace_id, span_id)


def test_without_a_url_or_key_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTOPS_URL", "AGENTOPS_INGEST_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ApprovalError) as raised:
        require_approval("refund", REFUND)
    assert raised.value.field == "url"
    with pytest.raises(ApprovalError) as raised:
        require_approval("refund", REFUND, url="http://127.0.0.1:1")
    assert raised.value.field == "key"


def test_the_otel_exporter_settings_are_a_fallback(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTOPS_URL", raising=False)
    monkeypatch.delenv("AGENTOPS_INGEST_KEY", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", agent.url + "/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"x-team=a,Authorization=Bearer%20{agent.key}")
    assert configured(None, None, ApprovalError) == (agent.url, agent.key)
    monkeypatch.setenv("AGENTOPS_URL", "http://agentops.example")
    monkeypatch.setenv("AGENTOPS_INGEST_KEY", "aok_explicit")
    assert configured(None, None, ApprovalError) == ("http://agentops.example", "aok_explicit")


def _in_context(function: Any) -> Any:
    """`function` run in a copy of this thread's context (the current span), as asyncio.to_thread does."""
    import contextvars

    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.run(function, *args, **kwargs)


def test_the_decorated_tool_keeps_what_tool_frameworks_read() -> None:
    """@function_tool (OpenAI Agents SDK) and LangChain's @tool build the tool's schema from the
    signature, the type hints and the docstring: through the decorator they see the function's own."""

    async def original(order: str, amount: int = 0) -> str:
        """Refund `amount` on `order`."""
        return order

    decorated = requires_approval(risk="high")(original)
    assert inspect.signature(decorated) == inspect.signature(original)
    assert typing.get_type_hints(decorated) == {"order": str, "amount": int, "return": str}
    assert (decorated.__name__, decorated.__doc__) == ("original", "Refund `amount` on `order`.")
    assert inspect.iscoroutinefunction(decorated)


def test_a_redirect_is_refused_and_the_key_goes_nowhere_else(agent: Agent, proxy: FaultyProxy) -> None:
    proxy.fault = lambda method, path, n: (301, {"Location": f"http://127.0.0.1:9{path}"})
    with pytest.raises(ApprovalError) as raised:
        require_approval("refund", REFUND, url=proxy.url, key=agent.key, timeout=DEADLINE)
    assert raised.value.status == 301 and "http://127.0.0.1:9/api/v1/approvals/" in raised.value.detail
    assert [(s.method, s.status) for s in proxy.seen] == [("POST", 301)]


def test_a_grpc_exporters_endpoint_is_not_taken_for_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTOPS_URL", raising=False)
    monkeypatch.delenv("AGENTOPS_INGEST_KEY", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20aok_x")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ApprovalError) as raised:
        require_approval("refund", REFUND)
    assert raised.value.field == "url"
