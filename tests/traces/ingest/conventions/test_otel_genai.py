"""OTel GenAI: current names from opentelemetry-instrumentation-openai-v2 + opentelemetry-util-genai,
older names from openai-v2 2.0b0 (semconv 1.28) and a hand-written fixture for what no installable
library emits any more (gen_ai.usage.prompt_tokens, per-message span events)."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from tests.traces.ingest.test_normalize import one
from traces.ingest.spans import SpanEvent
from traces.ingest.steps import StepKind


def test_current_names_chat_tool_and_agent() -> None:
    steps = steps_of("otel_genai", "agent_run")
    assert {s.convention for s in steps} == {"otel_genai"}
    first, second, failed = of_kind(steps, StepKind.LLM)
    assert first.model == "gpt-4.1-mini-2025-04-14" and first.provider == "openai"
    assert (first.input_tokens, first.output_tokens) == (200, 18)
    assert first.input[0] == {
        "role": "system",
        "parts": [{"content": "You are a weather assistant. Use the tools.", "type": "text"}],
    }
    assert first.output[0]["finish_reason"] == "tool_calls"
    assert first.output[0]["parts"][0] == {
        "arguments": {"city": "Paris"},
        "name": "get_weather",
        "id": "call_weather_1",
        "type": "tool_call",
    }
    assert "gen_ai.request.model" in first.attributes  # not promoted: the response model was
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert failed.status == "error"
    assert failed.error_type == "openai.BadRequestError"  # sent as "<class 'openai.BadRequestError'>"
    assert failed.model == "gpt-4.1-mini"

    (tool,) = of_kind(steps, StepKind.TOOL)
    assert (tool.tool_name, tool.tool_call_id) == ("get_weather", "call_weather_1")
    assert tool.input == {"city": "Paris"}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}


def test_agent_usage_is_an_aggregate_and_not_double_counted() -> None:
    steps = steps_of("otel_genai", "agent_run")
    (agent,) = of_kind(steps, StepKind.AGENT)
    assert agent.agent_name == "weather_agent"
    assert (agent.input_tokens, agent.output_tokens) == (480, 30)
    assert agent.usage_is_aggregate is True
    leaf = [s for s in steps if not s.usage_is_aggregate and s.input_tokens is not None]
    # What storage will add up equals the agent's own total: counted once.
    assert sum(s.input_tokens or 0 for s in leaf) == agent.input_tokens
    assert sum(s.output_tokens or 0 for s in leaf) == agent.output_tokens


def test_semconv_1_28_names() -> None:
    steps = steps_of("otel_genai", "chat_v1_28")
    first = of_kind(steps, StepKind.LLM)[0]
    assert first.provider == "openai"  # from gen_ai.system
    assert "gen_ai.system" not in first.attributes
    assert (first.input_tokens, first.output_tokens) == (200, 18)
    assert first.input is None  # 2.0b0 sends content as log events, not on the span
    plain = [s for s in steps if s.convention == "generic"]
    assert {s.name for s in plain} == {"weather lookup", "weather agent run"}
    assert all(s.kind is StepKind.SPAN for s in plain)


def test_oldest_names_and_per_message_events() -> None:
    steps = steps_of("otel_genai", "events_handwritten")
    by_name = {s.name: s for s in steps}
    old = by_name["chat gpt-4o"]
    assert old.kind is StepKind.LLM  # no operation name in <= 1.26: the model says LLM
    assert old.provider == "azure.ai.openai"  # gen_ai.system "az.ai.openai"
    assert (old.input_tokens, old.output_tokens) == (31, 9)  # prompt_tokens / completion_tokens
    assert [m["role"] for m in old.input] == ["system", "user"]
    assert old.output == [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}]}]
    assert [e["name"] for e in old.events] == ["gen_ai.content.prompt", "gen_ai.content.completion"]

    events = by_name["chat claude-3-5-sonnet"]
    assert events.provider == "anthropic"  # "Anthropic" lower-cased
    assert [m["role"] for m in events.input] == ["system", "user", "assistant", "tool"]
    assert events.input[2]["parts"] == [
        {"type": "tool_call", "id": "toolu_01", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert events.input[3]["parts"] == [{"type": "tool_call_response", "id": "toolu_01", "response": {"sky": "sunny"}}]
    assert events.output == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Sunny in Paris."}], "finish_reason": "end_turn"}
    ]
    assert len(events.events) == 5  # events are kept as sent as well

    approval = by_name["wire transfer approval"]
    assert approval.kind is StepKind.APPROVAL  # agentops.step.kind overrides the tool signal
    assert approval.input == {"amount": 1200, "currency": "EUR"}
    assert approval.end_ns is None  # still waiting for a human

    root = by_name["POST /chat"]
    assert (root.kind, root.convention, root.status) == (StepKind.SPAN, "generic", "error")
    assert (root.error_type, root.error_message) == ("500", "upstream failed")
    assert root.attributes == {
        "http.request.method": "POST",
        "http.response.status_code": 500,
        "app.payload": "AAEC/w==",  # bytes -> base64
        "app.flags": [True, 0.5],
    }
    assert root.links == [
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "attributes": {"link.reason": "retry of"},
        }
    ]
    assert root.environment == "prod"  # resource deployment.environment (old name)


# --- event-borne messages: Strands Agents (strands-agents 1.62, its own OTel tracing) ---------------


def test_strands_events_with_bedrock_content_blocks() -> None:
    steps = steps_of("strands", "agent_run")
    first, second, *failed = of_kind(steps, StepKind.LLM)
    # gen_ai.system.message / gen_ai.user.message events, content [{"text": ...}]
    assert first.input == [
        {"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant. Use the tools."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]},
    ]
    # gen_ai.choice's message is the content block list: a toolUse block is a tool call
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
            "finish_reason": "tool_use",
        }
    ]
    # the second call's history: toolUse in gen_ai.assistant.message, toolResult in gen_ai.tool.message
    assert [m["role"] for m in second.input] == ["system", "user", "assistant", "tool"]
    assert second.input[3]["parts"] == [
        {
            "type": "tool_call_response",
            "id": "call_weather_1",
            "response": {"city": "Paris", "sky": "sunny", "celsius": 21},
        }
    ]
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert all(s.status == "error" and s.output is None for s in failed)
    assert [e["name"] for e in first.events] == ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"]


def test_strands_agent_answer_and_tool_payloads_from_events() -> None:
    steps = steps_of("strands", "agent_run")
    agent = of_kind(steps, StepKind.AGENT)[0]
    # the agent's gen_ai.choice message is the answer's plain text, not JSON
    assert agent.output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "It is sunny in Paris, 21 degrees.\n"}],
            "finish_reason": "end_turn",
        }
    ]
    (tool,) = of_kind(steps, StepKind.TOOL)
    # gen_ai.tool.message's content is the arguments, gen_ai.choice's message the result blocks
    assert tool.input == {"city": "Paris"}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}


def test_strands_latest_semconv_details_event() -> None:
    steps = steps_of("strands", "agent_run_latest_semconv")
    first, second, *_ = of_kind(steps, StepKind.LLM)
    # gen_ai.system_instructions, gen_ai.input.messages and gen_ai.output.messages, each the attribute of
    # its own gen_ai.client.inference.operation.details event
    assert first.input == [
        {"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant. Use the tools."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]},
    ]
    assert first.output[0]["parts"][0]["type"] == "tool_call"
    assert first.output[0]["finish_reason"] == "tool_use"
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert {e["name"] for e in first.events} == {"gen_ai.client.inference.operation.details"}
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert tool.input == {"city": "Paris"}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}  # [{"text": "<json>"}] as sent


def test_details_event_with_structured_values() -> None:
    """Log records attached as events (ADK's EVENT_ONLY sends these) hold AnyValue lists, not JSON text."""
    details = "gen_ai.client.inference.operation.details"
    event = SpanEvent(
        details,
        1,
        {
            "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
            "gen_ai.output.messages": [
                {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}
            ],
        },
    )
    step = one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}, events=(event,))
    assert step.input == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
    ]
    assert step.output == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}
    ]
    # a details event of something else, or with junk, leaves the messages alone
    junk = SpanEvent(details, 1, {"gen_ai.input.messages": "not json", "gen_ai.output.messages": 7})
    assert one({"gen_ai.operation.name": "chat"}, events=(junk,)).input is None


def test_a_tool_result_list_is_unwrapped_only_from_a_library_that_sends_blocks() -> None:
    blocks = '[{"text": "{\\"a\\": 1}"}]'
    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t", "gen_ai.tool.call.result": blocks}
    assert one(dict(attrs)).output == [{"text": '{"a": 1}'}]  # any other sender: its value as returned
    assert one(dict(attrs), scope="strands.telemetry.tracer").output == {"a": 1}
