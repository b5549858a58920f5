"""Logfire + Pydantic AI: an Agent with a tool on an OpenAI-compatible model; a run flushed while its
parent span was open, so the capture holds a real pending_span."""

from __future__ import annotations

from decimal import Decimal

from tests.fixtures.otlp.loader import load_spans
from tests.traces.ingest.conventions.helpers import of_kind, steps_of
from traces.ingest.normalize import normalize
from traces.ingest.steps import StepKind


def test_pending_span_is_dropped_and_the_real_one_kept() -> None:
    spans = load_spans("logfire", "agent_run")
    pending = [s for s in spans if s.attributes.get("logfire.span_type") == "pending_span"]
    assert len(pending) == 1
    assert normalize(pending[0]) is None
    steps = steps_of("logfire", "agent_run")
    assert len(steps) == len(spans) - 1
    names = [s.name for s in steps]
    assert names.count("handle request {user}") == 1


def test_agent_run_llm_and_tool_steps() -> None:
    steps = steps_of("logfire", "agent_run")
    assert {s.convention for s in steps} == {"logfire"}
    ok_run, failed_run = of_kind(steps, StepKind.AGENT)
    assert ok_run.agent_name == "weather_agent"
    assert (ok_run.input_tokens, ok_run.output_tokens, ok_run.cache_read_tokens, ok_run.reasoning_tokens) == (
        480,
        30,
        128,
        16,
    )
    assert ok_run.usage_is_aggregate is True  # gen_ai.aggregated_usage.*
    assert [m["role"] for m in ok_run.input] == ["system", "user", "assistant", "user", "assistant"]
    assert ok_run.input[3]["parts"][0] == {
        "type": "tool_call_response",
        "id": "call_weather_1",
        "name": "get_weather",
        "response": {"city": "Paris", "sky": "sunny", "celsius": 21},
    }
    assert ok_run.output == "It is sunny in Paris, 21 degrees."

    first, _second, failed = of_kind(steps, StepKind.LLM)
    assert first.reported_cost_usd == Decimal("0.0000896")  # operation.cost
    assert (first.input_tokens, first.cache_read_tokens, first.reasoning_tokens) == (200, 64, 8)
    assert first.input[0]["role"] == "system"  # gen_ai.system_instructions leads
    assert first.attributes["model_request_parameters"]["function_tools"][0]["name"] == "get_weather"  # JSON parsed
    assert first.session_id is not None and first.session_id == ok_run.session_id  # gen_ai.conversation.id

    (tool,) = of_kind(steps, StepKind.TOOL)
    assert (tool.tool_name, tool.tool_call_id) == ("get_weather", "call_weather_1")
    assert tool.input == {"city": "Paris"} and tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}

    assert failed.status == failed_run.status == "error"
    assert failed.error_type == "pydantic_ai.exceptions.ModelContextWindowExceededError"
    assert failed_run.usage_is_aggregate is False and failed_run.input_tokens is None


def test_plain_logfire_span_keeps_its_attributes_and_tags() -> None:
    steps = steps_of("logfire", "agent_run")
    (plain,) = [s for s in steps if s.name == "handle request {user}"]
    assert plain.kind is StepKind.SPAN
    assert plain.tags == ["fixture"]
    assert plain.attributes["user"] == "user-42"
    assert plain.attributes["logfire.msg"] == "handle request user-42"
