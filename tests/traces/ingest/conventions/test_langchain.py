"""LangChain / LangGraph through openinference-instrumentation-langchain, captured from langchain's
create_agent on a LangGraph thread (tests/fixtures/otlp/scenarios/langchain.py): OpenInference
attributes whose payloads hold LangChain's own message and state dumps."""

from __future__ import annotations

import json

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from tests.traces.ingest.test_normalize import make_span
from traces.ingest import messages as m
from traces.ingest.conventions import openinference
from traces.ingest.conventions.base import Draft
from traces.ingest.steps import StepKind


def test_the_agent_state_reads_as_the_conversation() -> None:
    steps = steps_of("langchain", "agent_run")
    ok, failed = sorted(of_kind(steps, StepKind.AGENT), key=lambda s: s.start_ns)
    assert ok.parent_span_id is None and ok.agent_name == "weather_agent"
    assert ok.input == [{"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]}]
    assert [msg["role"] for msg in ok.output] == ["user", "assistant", "tool", "assistant"]
    assert ok.output[1]["parts"] == [
        {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert ok.output[2]["parts"][0]["id"] == "call_weather_1"
    assert text_of(ok.output[3]) == "It is sunny in Paris, 21 degrees."
    # The dumps as sent stay: they hold message ids and response metadata.
    assert json.loads(ok.attributes["output.value"])["messages"][3]["data"]["id"]
    assert text_of(failed.input[0]) == "FAIL: now summarize the whole week."
    assert failed.status == "error" and failed.output is None


def test_the_tool_step_carries_its_result_and_call_id() -> None:
    (tool,) = of_kind(steps_of("langchain", "agent_run"), StepKind.TOOL)
    assert (tool.tool_name, tool.tool_call_id) == ("get_weather", "call_weather_1")
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    assert tool.input == "Paris"  # what the instrumentation sends: the tool's input string


def test_llm_steps_and_the_failed_call_without_an_empty_answer() -> None:
    first, second, failed = of_kind(steps_of("langchain", "agent_run"), StepKind.LLM)
    assert (first.model, first.provider, first.input_tokens, first.output_tokens) == (
        "gpt-4.1-mini-2025-04-14",
        "openai",
        200,
        18,
    )
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    # The instrumentation records the failed call's output as a bare role: no message.
    assert "llm.output_messages.0.message.role" not in failed.attributes
    assert failed.output is None and failed.status == "error"
    assert failed.model == "gpt-4.1-mini"


def test_context_session_from_the_thread_and_no_user() -> None:
    steps = steps_of("langchain", "agent_run")
    assert {s.session_id for s in steps} == {"sess-lc-1"}
    # metadata.user_id is LangChain's place for it, but the instrumentation only names the session.
    assert {s.user_id for s in steps} == {None}
    assert {s.metadata.get("user_id") for s in steps} == {"user-42"}


def test_a_state_with_more_than_messages_or_an_unknown_item_is_kept_as_sent() -> None:
    assert m.from_langchain({"messages": [], "structured_response": {"city": "Paris"}}) is None
    assert m.from_langchain({"messages": [{"type": "widget", "data": {}}]}) is None
    assert m.from_langchain({"messages": []}) is None
    assert m.from_langchain([{"role": "user", "content": "hi"}]) is None  # a bare list must be dumps
    assert m.from_langchain({"city": "Paris"}) is None and m.from_langchain("text") is None
    human = {"type": "human", "data": {"content": "Hi"}}
    user = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert m.from_langchain({"messages": [human], "remaining_steps": 24}) == user  # LangGraph's step budget
    assert m.from_langchain([human]) == user and m.from_langchain(human) == user
    dumped = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "schema", "messages", "AIMessage"],
        "kwargs": {"content": [{"type": "text", "text": "Hi"}], "type": "ai"},
    }
    assert m.from_langchain({"messages": [dumped]}) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hi"}]}
    ]
    span = make_span(
        {
            "openinference.span.kind": "CHAIN",
            "output.value": '{"messages": [], "jump_to": "end"}',
            "output.mime_type": "application/json",
        }
    )
    draft = Draft(span, StepKind.CHAIN, "openinference")
    openinference.extract(span, draft)
    assert draft.output == {"messages": [], "jump_to": "end"}
    assert "output.value" not in draft.attrs


def test_every_step_names_its_agent_from_lc_agent_name() -> None:
    steps = steps_of("langchain", "agent_run")
    assert {s.agent_name for s in steps} == {"weather_agent"}
    assert {s.metadata["lc_agent_name"] for s in steps} == {"weather_agent"}  # kept in the metadata too


def test_the_prebuilt_react_agent_reads_the_same() -> None:
    steps = steps_of("langchain", "react_agent_run")
    roots = sorted((s for s in steps if s.parent_span_id is None), key=lambda s: s.start_ns)
    assert [(r.kind, r.agent_name) for r in roots] == [(StepKind.AGENT, "weather_agent")] * 2
    assert text_of(roots[0].input[0]) == "What is the weather in Paris?"
    assert text_of(roots[0].output[-1]) == "It is sunny in Paris, 21 degrees."
    # The graph's node "agent" is an AGENT span too; without lc_agent_name it is named by the node.
    assert {s.agent_name for s in of_kind(steps, StepKind.AGENT) if s.parent_span_id} == {"agent"}
    prompts = [s for s in steps if s.name == "Prompt"]
    assert [msg["role"] for msg in prompts[0].output] == ["system", "user"]  # a list of dumped messages
    sequence = next(s for s in steps if s.name == "RunnableSequence")
    assert sequence.output[0]["parts"][0]["name"] == "get_weather"  # one dumped AIMessage
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert (tool.tool_call_id, tool.output) == ("call_weather_1", {"city": "Paris", "sky": "sunny", "celsius": 21})
    assert len(of_kind(steps, StepKind.LLM)) == 3
