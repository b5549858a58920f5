"""OpenLLMetry: traceloop-sdk 0.62 with its decorators (current GenAI names on LLM spans), and
opentelemetry-instrumentation-openai 0.46 (flattened gen_ai.prompt.N.* / gen_ai.completion.N.*)."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest.steps import StepKind


def test_decorated_workflow_agent_tool_and_llm_steps() -> None:
    steps = steps_of("openllmetry", "agent_run")
    assert {s.convention for s in steps} == {"openllmetry"}
    (workflow,) = of_kind(steps, StepKind.CHAIN)
    (agent,) = of_kind(steps, StepKind.AGENT)
    (tool,) = of_kind(steps, StepKind.TOOL)
    first, second, failed = of_kind(steps, StepKind.LLM)
    assert workflow.parent_span_id is None and agent.parent_span_id == workflow.span_id
    assert agent.agent_name == "weather_agent"
    assert tool.tool_name == "get_weather"
    assert tool.input == {"city": "Paris"}  # {"args": [], "kwargs": {...}} unwrapped
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    assert agent.input == {"args": ["What is the weather in Paris?"], "kwargs": {}}

    assert first.model == "gpt-4.1-mini-2025-04-14" and first.provider == "openai"
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens, first.reasoning_tokens) == (
        200,
        18,
        64,
        8,
    )
    assert first.output[0]["parts"][0]["arguments"] == {"city": "Paris"}
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert failed.status == "error" and failed.error_type == "BadRequestError"  # error.type first
    for step in (workflow, agent, failed):
        assert step.error_message == "Error code: 400 - This model's maximum context length was exceeded."


def test_association_properties_become_session_user_and_metadata() -> None:
    for step in steps_of("openllmetry", "agent_run"):
        assert (step.session_id, step.user_id) == ("sess-tl-1", "user-42")
        assert step.metadata == {"customer_id": "acme"}  # a user id was given: the customer is kept aside
        assert not any(k.startswith("traceloop.association.") for k in step.attributes)


def test_flattened_prompt_and_completion_attributes() -> None:
    steps = steps_of("openllmetry", "chat_flattened")
    first, second, failed = of_kind(steps, StepKind.LLM)
    assert first.convention == "openllmetry"
    assert (first.input_tokens, first.output_tokens) == (200, 18)  # gen_ai.usage.prompt_tokens, ...
    assert first.cache_read_tokens == 64 and first.reasoning_tokens == 8  # llm.usage.reasoning_tokens
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
            "finish_reason": "tool_calls",
        }
    ]
    assert second.input[3] == {
        "role": "tool",
        "parts": [
            {
                "type": "tool_call_response",
                "id": "call_weather_1",
                "response": '{"city": "Paris", "sky": "sunny", "celsius": 21}',
            }
        ],
    }
    assert not any(k.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for k in second.attributes)
    assert second.attributes["llm.usage.total_tokens"] == 292  # not a step field: kept
    assert failed.status == "error" and failed.model == "gpt-4.1-mini"
