"""Google ADK 2.13 (LiteLlm openai/gpt-4o-mini): the default schema (OTel GenAI names, read by otel_genai)
and the legacy one (ADK 1.x's gcp.vertex.agent.* attributes, read by google_adk)."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest.steps import StepKind


def test_default_schema_has_no_content_unless_asked() -> None:
    steps = steps_of("google_adk", "agent_run")
    assert all(s.input is None and s.output is None for s in steps)
    first = of_kind(steps, StepKind.LLM)[0]
    assert (first.model, first.provider, first.session_id) == ("openai/gpt-4o-mini", "openai", "sess-adk-1")
    assert (first.input_tokens, first.output_tokens, first.reasoning_tokens) == (200, 26, 8)
    (workflow,) = [s for s in of_kind(steps, StepKind.CHAIN) if s.status != "error"]
    assert workflow.attributes["gen_ai.workflow.name"] == "weather_agent"

    content = steps_of("google_adk", "agent_run_content")
    first = of_kind(content, StepKind.LLM)[0]
    assert [m["role"] for m in first.input] == ["system", "user"]
    assert first.output[0]["parts"][0]["name"] == "get_weather"
    (tool,) = of_kind(content, StepKind.TOOL)
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}


def test_legacy_schema_messages_from_the_llm_request_and_response() -> None:
    steps = steps_of("google_adk", "agent_run_legacy_schema")
    calls = [s for s in of_kind(steps, StepKind.LLM) if s.name == "call_llm"]
    first, second = calls
    assert first.convention == "google_adk" and first.session_id == "sess-adk-1"
    assert first.input[0]["role"] == "system"  # config.system_instruction
    assert first.input[1] == {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]}
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
            "finish_reason": "STOP",
        }
    ]
    # the function_response comes back under the user role: it is the tool's message
    assert second.input[3] == {
        "role": "tool",
        "parts": [
            {
                "type": "tool_call_response",
                "id": "call_weather_1",
                "response": {"city": "Paris", "sky": "sunny", "celsius": 21},
            }
        ],
    }
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert "gcp.vertex.agent.llm_request" in first.attributes  # it holds more (config, tools, labels)
    (tool,) = [s for s in of_kind(steps, StepKind.TOOL) if s.status != "error"]
    assert tool.input == {"city": "Paris"}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    assert tool.attributes["gcp.vertex.agent.llm_request"] == "{}"  # ADK's empty payload stays as sent
