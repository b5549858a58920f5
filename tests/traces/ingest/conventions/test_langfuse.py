"""Langfuse SDK (OpenTelemetry-based): langfuse.openai generations, @observe agent and tool,
propagate_attributes for session, user, tags and metadata."""

from __future__ import annotations

from decimal import Decimal

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from tests.traces.ingest.test_normalize import make_span
from traces.ingest.conventions import langfuse
from traces.ingest.conventions.base import Draft
from traces.ingest.steps import StepKind


def test_generations_tool_and_agent() -> None:
    steps = steps_of("langfuse", "agent_run")
    assert {s.convention for s in steps} == {"langfuse"}
    first, second, failed = of_kind(steps, StepKind.LLM)
    assert first.model == "gpt-4.1-mini-2025-04-14"
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens, first.reasoning_tokens) == (
        200,
        18,
        64,
        8,
    )
    assert [m["role"] for m in first.input] == ["system", "user"]  # {"tools", "messages"} body
    assert first.output[0]["parts"] == [
        {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert failed.status == "error"  # langfuse.observation.level ERROR (and the OTel status)
    assert failed.error_message == "Error code: 400 - This model's maximum context length was exceeded."
    assert failed.reported_cost_usd == Decimal("0")

    (tool,) = of_kind(steps, StepKind.TOOL)
    assert tool.input == {"city": "Paris"}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    (agent,) = of_kind(steps, StepKind.AGENT)
    assert agent.agent_name == "weather_agent" and agent.status == "error"


def test_trace_attributes_on_every_step() -> None:
    for step in steps_of("langfuse", "agent_run"):
        assert (step.session_id, step.user_id) == ("sess-lf-1", "user-42")
        assert step.tags == ["weather", "fixture"]
        assert step.metadata == {"tenant": "acme"}  # the value was JSON text: '"acme"'
        assert step.environment == "staging"
        assert step.attributes["langfuse.release"] == "1.4.0"


def test_langfuse_usage_names_cost_parts_and_arbitrary_payloads() -> None:
    span = make_span(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.usage_details": '{"input": 100, "output": 20, "input_cached_tokens": 40}',
            "langfuse.observation.cost_details": '{"input": 0.001, "output": 0.002}',
            "langfuse.observation.input": '{"question": "why?"}',
            "langfuse.observation.output": '"because"',
            "langfuse.observation.metadata.step": "3",
        },
        scope="langfuse-sdk",
    )
    draft = Draft(span, StepKind.LLM, "langfuse")
    langfuse.extract(span, draft)
    assert (draft.input_tokens, draft.output_tokens, draft.cache_read_tokens) == (100, 20, 40)
    assert draft.reported_cost_usd == Decimal("0.003")
    assert draft.input == [{"role": "user", "parts": [{"type": "text", "content": '{"question":"why?"}'}]}]
    assert draft.output == [{"role": "assistant", "parts": [{"type": "text", "content": "because"}]}]
    assert draft.metadata == {"step": 3}
