"""LlamaIndex through openinference-instrumentation-llama-index, captured from a FunctionAgent that
streams its model calls (tests/fixtures/otlp/scenarios/llama_index.py)."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest.steps import StepKind


def _calls(case: str) -> list:
    # LlamaIndex also marks its _prepare_chat_with_tools as LLM spans: they carry no messages.
    return [s for s in of_kind(steps_of("llama_index", case), StepKind.LLM) if s.name == "OpenAI.astream_chat"]


def test_a_tool_calling_turn_has_no_empty_text_part() -> None:
    first, second, failed = _calls("agent_run")
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        }
    ]
    assert second.input[2]["parts"] == first.output[0]["parts"]
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert failed.status == "error" and failed.output is None


def test_usage_only_when_the_stream_was_asked_for_it() -> None:
    assert {(s.input_tokens, s.output_tokens) for s in _calls("agent_run")} == {(None, None)}
    first, second, _ = _calls("agent_run_stream_usage")
    assert (first.input_tokens, first.output_tokens, second.input_tokens, second.output_tokens) == (200, 18, 280, 12)
    assert first.model == "gpt-4.1-mini"  # the requested model: the streamed response's is not recorded


def test_the_tool_step_shows_the_arguments_and_the_returned_value() -> None:
    (tool,) = of_kind(steps_of("llama_index", "agent_run"), StepKind.TOOL)
    assert tool.tool_name == "get_weather"
    assert tool.input == {"city": "Paris"}  # sent as {"kwargs": {...}}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}  # the ToolOutput's raw_output
    # The ToolOutput as sent stays: its text block is what the model was given (a Python repr).
    assert "{'city': 'Paris'" in tool.attributes["output.value"]
    assert tool.tool_call_id is None  # only in a CHAIN span's Python repr
