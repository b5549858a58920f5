"""Fixtures for the OTLP endpoint tests: a project with an ingest key, and an engineer's API token to
read back through the REST API what the endpoint stored."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agentops.tenancy import services
from agentops.tenancy.models import Project, User
from agentops.tenancy.roles import Role
from tests.factories import make_project

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_seq = itertools.count(1)


@dataclass
class IngestSetup:
    project: Project
    engineer: User
    key: str  # ingest key secret (aok_...)
    token: str  # the engineer's API token secret (aop_...)

    def run_url(self, trace_hex: str) -> str:
        return f"/api/v1/projects/{self.project.slug}/runs/{trace_hex}/"

    def step_url(self, trace_hex: str, span_hex: str) -> str:
        return f"{self.run_url(trace_hex)}steps/{span_hex}/"

    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def setup_for(project: Project, engineer: User) -> IngestSetup:
    return IngestSetup(
        project=project,
        engineer=engineer,
        key=services.ingest_key_create(project=project, name="tests").secret,
        token=services.api_token_create(user=engineer).secret,
    )


def make_engineer(project: Project) -> User:
    # No password: hashing one costs most of a test's setup on a small machine, and tokens need none.
    user = services.user_create(email=f"engineer{next(_seq)}@example.com")
    services.membership_grant(user=user, project=project, role=Role.ENGINEER)
    return user


@pytest.fixture
def ingest(request: pytest.FixtureRequest, db: None) -> Iterator[IngestSetup]:
    project = make_project()
    setup = setup_for(project, make_engineer(project))
    # Steps left by live_server tests are emptied by tests/conftest.py's _empty_unmanaged_tables.
    yield setup


def api_get(client: Any, url: str, setup: IngestSetup) -> Any:
    """GET a read-API URL in-process as the engineer; the decoded JSON body."""
    response = client.get(url, headers=setup.api_headers())
    assert response.status_code == 200, (url, response.status_code, response.content[:500])
    return response.json()


# --- an agent run emitted with the real OpenTelemetry SDK ---------------------------------------

RESOURCE = {
    "service.name": "support-bot",
    "service.version": "2.3.0",
    "deployment.environment.name": "staging",
    "agentops.bundle.id": "support-bot@7",
}
SYSTEM = {"role": "system", "parts": [{"type": "text", "content": "You answer questions about orders."}]}
ASK = {"role": "user", "parts": [{"type": "text", "content": "Where is my order A-100?"}]}
TOOL_CALL = {
    "role": "assistant",
    "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup_order", "arguments": {"order_id": "A-100"}}],
    "finish_reason": "tool_calls",
}
TOOL_RESULT = {
    "role": "tool",
    "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"status": "shipped"}}],
}
ANSWER = {
    "role": "assistant",
    "parts": [{"type": "text", "content": "Your order A-100 has shipped."}],
    "finish_reason": "stop",
}


class BadRequestError(Exception):
    """Stands in for an LLM client's error (what openai raises on a 400)."""


@dataclass
class SdkRun:
    """Ids (hex) of the run `emit_agent_run` made, the spans the SDK finished, and its resource."""

    trace_id: str
    root: str
    chat_1: str
    tool: str
    chat_2: str
    failed: str
    start_ns: int
    spans: tuple[Any, ...]
    resource: dict[str, Any]


def emit_agent_run(exporter: Any = None) -> SdkRun:
    """An agent run with OTel GenAI attributes, as an instrumented agent makes it: a root invoke_agent,
    two chat calls with usage and messages, a tool call with arguments and result between them, and a
    third chat call that fails. Exported through `exporter` with a BatchSpanProcessor (flushed before
    returning), and kept in memory for tests that send the same spans another way."""
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.support_bot", "0.1")
    # Explicit times (relative to a minute ago) so durations and step order are exact.
    t0 = time.time_ns() - 60 * 1_000_000_000
    ms = 1_000_000

    root = tracer.start_span(
        "invoke_agent support-bot",
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
            "gen_ai.conversation.id": "conv-42",
            "user.id": "user-7",
        },
        start_time=t0,
    )
    context = trace_api.set_span_in_context(root)

    def chat(start_ms: int, end_ms: int, attributes: dict[str, Any], error: Exception | None = None) -> Any:
        span = tracer.start_span(
            "chat gpt-4o",
            context=context,
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                **attributes,
            },
            start_time=t0 + start_ms * ms,
        )
        if error is not None:
            # What the OTel GenAI instrumentations do with a failed call.
            span.record_exception(error, timestamp=t0 + end_ms * ms)
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end(end_time=t0 + end_ms * ms)
        return span

    chat_1 = chat(
        1000,
        2000,
        {
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.cache_read.input_tokens": 200,
            "gen_ai.usage.output_tokens": 80,
            "gen_ai.input.messages": json.dumps([SYSTEM, ASK]),
            "gen_ai.output.messages": json.dumps([TOOL_CALL]),
        },
    )
    tool = tracer.start_span(
        "execute_tool lookup_order",
        context=context,
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "lookup_order",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": json.dumps({"order_id": "A-100"}),
            "gen_ai.tool.call.result": json.dumps({"status": "shipped"}),
        },
        start_time=t0 + 2500 * ms,
    )
    tool.end(end_time=t0 + 3000 * ms)
    chat_2 = chat(
        4000,
        5000,
        {
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1500,
            "gen_ai.usage.output_tokens": 60,
            "gen_ai.input.messages": json.dumps([SYSTEM, ASK, TOOL_CALL, TOOL_RESULT]),
            "gen_ai.output.messages": json.dumps([ANSWER]),
        },
    )
    failed = chat(6000, 6500, {}, error=BadRequestError("Error code: 400 - this model does not support tools"))
    root.end(end_time=t0 + 10_000 * ms)

    assert provider.force_flush(60_000), "the span processors did not flush"
    provider.shutdown()

    def span_hex(span: Any) -> str:
        return f"{span.get_span_context().span_id:016x}"

    return SdkRun(
        trace_id=f"{root.get_span_context().trace_id:032x}",
        root=span_hex(root),
        chat_1=span_hex(chat_1),
        tool=span_hex(tool),
        chat_2=span_hex(chat_2),
        failed=span_hex(failed),
        start_ns=t0,
        spans=memory.get_finished_spans(),
        resource=dict(provider.resource.attributes),
    )


@pytest.fixture
def window_for_captures() -> Iterator[None]:
    """The captured fixtures keep the times they were recorded at: the endpoint's window of accepted
    span times (INGEST_MAX_SPAN_AGE_DAYS) is widened so that they stay valid whenever the suite runs."""
    from django.test import override_settings

    with override_settings(INGEST_MAX_SPAN_AGE_DAYS=100 * 366):
        yield
