"""The Anthropic SDK (2.17, its own tracing since 1.14) beside OpenLLMetry's Anthropic instrumentation
(0.62.4): two records of each model call, and the SDK's own tool runner spans."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest.steps import StepKind


def test_both_instrumentations_record_every_call() -> None:
    steps = steps_of("anthropic", "agent_run")
    llm = of_kind(steps, StepKind.LLM)
    # OpenLLMetry's anthropic.chat and the SDK's anthropic.messages.create for each of the 3 calls, both
    # children of the agent span, with the same usage: the lead's dedupe must count each call once.
    assert [s.name for s in llm].count("anthropic.chat") == 3
    assert [s.name for s in llm].count("anthropic.messages.create") == 3
    (agent,) = of_kind(steps, StepKind.AGENT)
    assert {s.parent_span_id for s in llm} == {agent.span_id}
    chat = [s for s in llm if s.name == "anthropic.chat"]
    sdk = [s for s in llm if s.name == "anthropic.messages.create"]
    for ours, theirs in zip(chat[:2], sdk[:2], strict=True):
        assert ours.model == theirs.model == "claude-sonnet-4-5"
        assert (ours.input_tokens, ours.output_tokens) == (theirs.input_tokens, theirs.output_tokens)
        assert (
            (ours.cache_read_tokens, ours.cache_write_tokens)
            == (64, 32)
            == (theirs.cache_read_tokens, theirs.cache_write_tokens)
        )
        assert theirs.input is None  # the SDK's default content mode is metadata_only
    assert chat[0].output[0]["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_weather_1",
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert text_of(chat[1].output[0]) == "It is sunny in Paris, 21 degrees."
    assert chat[2].status == sdk[2].status == "error"


def test_sdk_tool_runner_with_content() -> None:
    steps = steps_of("anthropic", "sdk_tool_runner_content")
    (runner,) = of_kind(steps, StepKind.AGENT)
    assert runner.name == "anthropic.messages.tool_runner"
    first, second, failed = of_kind(steps, StepKind.LLM)
    assert [m["role"] for m in first.input] == ["system", "user"]
    assert first.output[0]["parts"][1]["type"] == "tool_call"
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert failed.status == "error" and failed.error_type == "invalid_request_error"
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert (tool.tool_name, tool.tool_call_id) == ("get_weather", "toolu_weather_1")
    assert tool.input == {"city": "Paris"}
    # anthropic.tool_result.content: Anthropic text blocks holding the JSON the tool returned
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
