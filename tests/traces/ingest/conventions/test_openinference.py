"""OpenInference, captured from openinference-instrumentation-openai with the library's own agent and
tool decorators (tests/fixtures/otlp/scenarios/openinference.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest.conventions import openinference
from traces.ingest.steps import StepKind


def test_llm_steps_carry_model_provider_tokens_and_canonical_messages() -> None:
    steps = steps_of("openinference", "agent_run")
    first, second, failed = of_kind(steps, StepKind.LLM)
    assert first.convention == "openinference"
    assert first.model == "gpt-4.1-mini-2025-04-14"
    assert first.provider == "openai"
    assert (first.input_tokens, first.output_tokens) == (200, 18)
    assert (first.cache_read_tokens, first.cache_write_tokens, first.reasoning_tokens) == (64, None, 8)
    assert first.usage_is_aggregate is False
    assert [m["role"] for m in first.input] == ["system", "user"]
    assert text_of(first.input[1]) == "What is the weather in Paris?"
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        }
    ]
    assert [m["role"] for m in second.input] == ["system", "user", "assistant", "tool"]
    assert second.input[3]["parts"] == [
        {
            "type": "tool_call_response",
            "id": "call_weather_1",
            "response": '{"city": "Paris", "sky": "sunny", "celsius": 21}',
        }
    ]
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    # The flattened message attributes were promoted; the request and response bodies stay.
    assert not any(k.startswith("llm.input_messages.") for k in second.attributes)
    assert "input.value" in second.attributes and "llm.token_count.total" in second.attributes

    assert failed.status == "error"
    assert failed.error_type == "openai.BadRequestError"
    assert failed.error_message == "Error code: 400 - This model's maximum context length was exceeded."
    assert failed.model == "gpt-4.1-mini"  # from llm.invocation_parameters: the call never answered
    assert failed.output is None and failed.input_tokens is None


def test_tool_and_agent_steps() -> None:
    steps = steps_of("openinference", "agent_run")
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert tool.tool_name == "get_weather"
    assert tool.input == {"city": "Paris"}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    assert "tool.parameters" in tool.attributes  # the schema, not the arguments: kept as sent
    (agent,) = of_kind(steps, StepKind.AGENT)
    assert agent.parent_span_id is None
    assert agent.agent_name == "weather_agent"
    assert agent.input == "What is the weather in Paris?"  # text/plain stays text
    assert agent.status == "error" and agent.error_type == "openai.BadRequestError"
    assert {s.parent_span_id for s in steps if s is not agent} == {agent.span_id}


def test_context_from_span_and_resource() -> None:
    for step in steps_of("openinference", "agent_run"):
        assert step.session_id == "sess-oi-1"
        assert step.user_id == "user-42"
        assert step.tags == ["weather", "fixture"]
        assert step.metadata == {"tenant": "acme", "attempt": 1}
        assert (step.service_name, step.service_version) == ("weather-agent", "1.4.0")
        assert step.environment == "staging"
        assert step.bundle_id == "weather-bundle-7"
        assert "session.id" not in step.attributes and "metadata" not in step.attributes


def test_openinference_marker_wins_over_the_genai_attributes_it_also_emits() -> None:
    steps = steps_of("openinference", "agent_run_genai_semconv")
    assert {s.convention for s in steps} == {"openinference"}
    first = of_kind(steps, StepKind.LLM)[0]
    assert (first.input_tokens, first.output_tokens, first.reasoning_tokens) == (200, 18, 8)
    (tool,) = of_kind(steps, StepKind.TOOL)
    # With GenAI semconv on, this instrumentation writes the tool's schema into
    # gen_ai.tool.call.arguments; the arguments come from input.value.
    assert tool.input == {"city": "Paris"}


def test_flattened_contents_images_and_cost() -> None:
    from tests.traces.ingest.test_normalize import make_span
    from traces.ingest.conventions.base import Draft

    span = make_span(
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "What is this?",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/cat.png",
            "llm.input_messages.0.message.future_field": "kept",
            "llm.cost.total": 0.0042,
            "llm.provider": "azure",
            "llm.system": "openai",
        }
    )
    draft = Draft(span, StepKind.LLM, "openinference")
    openinference.extract(span, draft)
    assert draft.input == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
            ],
        }
    ]
    assert draft.reported_cost_usd == Decimal("0.0042")
    assert draft.provider == "azure.ai.openai"
    assert draft.attrs == {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.future_field": "kept",
        "llm.provider": "azure",  # vendor and host, folded into one id: both kept as sent
        "llm.system": "openai",
    }
