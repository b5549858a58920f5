"""OpenAI Agents SDK through openinference-instrumentation-openai-agents, captured from the real SDK on
the Responses API (tests/fixtures/otlp/scenarios/openai_agents.py): OpenInference attributes, written
by the instrumentation's trace processor from the SDK's own spans."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from tests.traces.ingest.test_normalize import make_span
from traces.ingest.conventions import openinference
from traces.ingest.conventions.base import Draft
from traces.ingest.steps import StepKind


def test_the_final_answer_is_one_text_part_not_two() -> None:
    steps = steps_of("openai_agents", "agent_run")
    first, second, failed = of_kind(steps, StepKind.LLM)
    # The instrumentation writes the answer as message.contents.0 and again as message.content.
    assert second.output == [
        {"role": "assistant", "parts": [{"type": "text", "content": "It is sunny in Paris, 21 degrees."}]}
    ]
    assert not any(k.startswith("llm.output_messages.") for k in second.attributes)
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        }
    ]
    assert [m["role"] for m in second.input] == ["system", "user", "assistant", "tool"]
    assert text_of(second.input[1]) == "What is the weather in Paris?"
    assert (second.model, second.provider) == ("gpt-4.1-mini-2025-04-14", "openai")
    assert (second.input_tokens, second.output_tokens, second.cache_read_tokens, second.reasoning_tokens) == (
        240,
        12,
        64,
        8,
    )
    # The rejected call: the SDK records neither the model nor the input of a call that raised.
    assert failed.status == "error" and failed.model is None and failed.input is None


def test_tool_agent_and_context() -> None:
    steps = steps_of("openai_agents", "agent_run")
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert tool.tool_name == "get_weather"
    assert (tool.input, tool.output) == ({"city": "Paris"}, {"city": "Paris", "sky": "sunny", "celsius": 21})
    agents = of_kind(steps, StepKind.AGENT)
    assert {a.agent_name for a in agents if a.parent_span_id is not None} == {"weather_agent"}
    assert {(s.session_id, s.user_id) for s in steps} == {("sess-oa-1", "user-42")}


def _output_of(attributes: dict[str, object]) -> Draft:
    span = make_span({"openinference.span.kind": "LLM", **attributes})
    draft = Draft(span, StepKind.LLM, "openinference")
    openinference.extract(span, draft)
    return draft


def test_a_flat_content_that_joins_the_parts_is_dropped_and_one_that_differs_is_kept() -> None:
    prefix = "llm.output_messages.0.message."
    parts = {
        prefix + "role": "assistant",
        prefix + "contents.0.message_content.type": "text",
        prefix + "contents.0.message_content.text": "Sunny.",
        prefix + "contents.1.message_content.type": "text",
        prefix + "contents.1.message_content.text": "21 degrees.",
    }
    joined = _output_of({**parts, prefix + "content": "Sunny.\n21 degrees."})
    assert joined.output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Sunny."}, {"type": "text", "content": "21 degrees."}],
        }
    ]
    assert not any(k.startswith("llm.output_messages.") for k in joined.attrs)
    different = _output_of({**parts, prefix + "content": "Something else."})
    assert [p["content"] for p in different.output[0]["parts"]] == ["Something else.", "Sunny.", "21 degrees."]


def test_reasoning_contents_are_reasoning_parts_and_the_encrypted_content_stays_in_attributes() -> None:
    prefix = "llm.input_messages.0.message."
    draft = _output_of(
        {
            prefix + "role": "assistant",
            prefix + "contents.0.message_content.type": "reasoning",
            prefix + "contents.0.message_content.text": "The user wants the weather.",
            prefix + "contents.0.message_content.encrypted_content": "gAAAA...",
            "llm.input_messages.1.message.role": "assistant",
            "llm.input_messages.1.message.contents.0.message_content.type": "reasoning",
            "llm.input_messages.1.message.contents.0.message_content.encrypted_content": "gAAAB...",
        }
    )
    assert draft.input == [
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "The user wants the weather."}]},
        {"role": "assistant", "parts": [{"type": "reasoning", "content": ""}]},
    ]
    assert draft.attrs[prefix + "contents.0.message_content.encrypted_content"] == "gAAAA..."


def test_a_streamed_run_reads_as_the_same_run() -> None:
    def shape(case: str) -> list[tuple[object, ...]]:
        steps = sorted(steps_of("openai_agents", case), key=lambda s: s.start_ns)
        return [
            (s.name, s.kind, s.model, s.input_tokens, s.output_tokens, s.tool_name, s.agent_name, s.input, s.output)
            for s in steps
        ]

    assert shape("agent_run_streamed") == shape("agent_run")
