"""What a run says it is, whichever framework sent it: its agent (from the best span, not only the root),
its previews (the question and the answer, never a repr when messages exist), its LLM calls (the spans
that made one) and model calls recorded twice by two instrumentations (counted once, both kept).

Pure: normalize_batch, stage and run_rows need no database. The store merges by the same ranks
(test_store.py proves batches in any order give the same run).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans

from tests.otlp import NS, SpanSpec, request
from traces.ingest.columns import RUN_COLUMNS
from traces.ingest.decode import decode_request
from traces.ingest.normalize import normalize_batch
from traces.ingest.redact import RedactionPolicy
from traces.ingest.rows import ProjectConfig, stage
from traces.ingest.runs import run_rows
from traces.ingest.steps import Step

START = 1_767_225_600 * NS  # 2026-01-01
CONFIG = ProjectConfig(project_id=1, redaction=RedactionPolicy())
TRACE = b"\x09" * 16
ROOT = b"\x00" * 7 + b"\x01"
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}


def at(offset: int, name: str, attrs: dict[str, Any], *, parent: bytes = ROOT, **kw: Any) -> SpanSpec:
    return SpanSpec(name, attrs, parent=parent, start_ns=START + offset * NS, end_ns=START + (offset + 1) * NS, **kw)


def root(name: str = "workflow", attrs: dict[str, Any] | None = None) -> SpanSpec:
    return SpanSpec(name, attrs or {"x": 1}, span_id=ROOT, start_ns=START, end_ns=START + 20 * NS)


def steps_of(*specs: SpanSpec, resource: dict[str, Any] | None = None, sdk: tuple[SpanSpec, ...] = ()) -> list[Step]:
    """The steps of one export; the `sdk` spans come from a second instrumentation library (OTLP scope)."""
    export = request([s.build(TRACE) for s in specs], resource or {"service.name": "my-service"}, scope="first")
    if sdk:
        export.resource_spans[0].scope_spans.append(
            ScopeSpans(scope=InstrumentationScope(name="second"), spans=[s.build(TRACE) for s in sdk])
        )
    return normalize_batch(decode_request(export.SerializeToString(), "application/x-protobuf").spans)


def run_of(steps: list[Step]) -> dict[str, Any]:
    (row,) = run_rows(stage(steps, CONFIG).rows)
    return dict(zip(RUN_COLUMNS, row, strict=True))


def messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def chat(offset: int, question: str, answer: str, tokens: int = 100, **kw: Any) -> SpanSpec:
    attrs = {
        **CHAT,
        "gen_ai.usage.input_tokens": tokens,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.input.messages": messages("user", question),
        "gen_ai.output.messages": messages("assistant", answer),
    }
    return at(offset, f"chat {offset}", attrs, **kw)


# --- the agent -------------------------------------------------------------------------------------


def test_a_child_agent_span_names_the_run_not_the_roots_service_name():
    # CrewAI, LlamaIndex, ADK, OpenAI Agents SDK: the root is a workflow or crew span, not an agent span.
    steps = steps_of(root("Crew.kickoff"), at(1, "agent", {"openinference.span.kind": "AGENT", "agent.name": "Scout"}))
    assert run_of(steps)["agent"] == "Scout"


def test_the_service_name_is_the_agent_only_when_no_span_names_one():
    assert run_of(steps_of(root(), chat(1, "q", "a")))["agent"] == "my-service"


def test_an_agent_attribute_beats_a_name_derived_from_a_span_name():
    derived = at(1, "FunctionAgent.run", {"openinference.span.kind": "AGENT"})
    named = at(2, "chat", {**CHAT, "gen_ai.agent.name": "writer"})
    assert run_of(steps_of(root(), derived, named))["agent"] == "writer"
    # Without it, the service's name: this agent span's name names a method, not the agent.
    assert run_of(steps_of(root(), derived))["agent"] == "my-service"
    # An agent span named like a name (a decorated function's) is better than the service's name.
    assert run_of(steps_of(root(), at(1, "weather_agent", {"openinference.span.kind": "AGENT"})))["agent"] == (
        "weather_agent"
    )


def test_langchain_metadata_names_the_agent():
    metadata = json.dumps({"lc_agent_name": "support_agent", "langgraph_node": "agent"})
    node = at(1, "agent", {"openinference.span.kind": "CHAIN", "metadata": metadata})
    assert run_of(steps_of(root("LangGraph"), node))["agent"] == "support_agent"


def test_a_langgraph_node_on_an_agent_span_is_a_derived_name():
    node = at(1, "call_model", {"openinference.span.kind": "AGENT", "graph.node.id": "planner"})
    assert run_of(steps_of(root(), node))["agent"] == "planner"


def test_an_adk_workflow_root_names_the_run_until_an_agent_span_does():
    workflow = root("invoke_workflow", {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "trip"})
    assert run_of(steps_of(workflow))["agent"] == "trip"
    agent = at(1, "invoke_agent planner", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})
    assert run_of(steps_of(workflow, agent))["agent"] == "planner"


def test_the_earliest_agent_span_wins_among_agent_spans():
    first = at(1, "invoke_agent a", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"})
    later = at(5, "invoke_agent b", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing"})
    assert run_of(steps_of(root(), later, first))["agent"] == "triage"


AGENT_SPANS = [
    root("Crew.kickoff"),
    at(1, "agent", {"openinference.span.kind": "AGENT", "agent.name": "Scout"}),
    at(2, "Writer._execute", {"openinference.span.kind": "AGENT", "graph.node.id": "writer"}),
    at(3, "chat", {**CHAT, "gen_ai.agent.name": "helper"}),
]


@given(st.permutations(AGENT_SPANS), st.integers(1, len(AGENT_SPANS) - 1))
def test_batches_in_any_order_agree_on_the_agent(specs, cut):
    # Each batch's candidate, merged by the lowest rank as the store does, is the one-batch answer.
    batches = [run_of(steps_of(*specs[:cut])), run_of(steps_of(*specs[cut:]))]
    best = min((b["agent_rank"], b["agent"]) for b in batches if b["agent"])
    assert best[1] == "Scout"


# --- previews --------------------------------------------------------------------------------------


def test_a_python_repr_on_the_root_loses_to_the_llm_messages():
    # LlamaIndex's workflow root: output.value is str(StopEvent(result=...)).
    workflow = root(
        "Workflow.run",
        {
            "openinference.span.kind": "CHAIN",
            "input.value": '{"user_msg": "Weather in Paris?"}',
            # As OpenInference sends a long one: cut short with "...".
            "output.value": "StopEvent(result=AgentOutput(response=ChatMessage(role=<MessageRole.ASSISTANT: 'a'>, ...",
        },
    )
    run = run_of(steps_of(workflow, chat(1, "Weather in Paris?", "calling"), chat(3, "Weather in Paris?", "Sunny.")))
    assert (run["input_preview"], run["output_preview"]) == ("Weather in Paris?", "Sunny.")


def test_a_langgraph_state_on_the_root_loses_to_the_llm_messages():
    state = json.dumps({"messages": [{"lc": 1, "type": "constructor", "kwargs": {"content": "hi", "type": "human"}}]})
    graph = root("LangGraph", {"openinference.span.kind": "CHAIN", "input.value": state, "output.value": state})
    run = run_of(steps_of(graph, chat(1, "hi", "hello!")))
    assert (run["input_preview"], run["output_preview"]) == ("hi", "hello!")


def test_plain_text_on_the_root_beats_the_prompt_the_framework_built():
    # CrewAI sends the model a long task prompt; the crew's input is what the user asked.
    crew = root("Crew", {"openinference.span.kind": "CHAIN", "input.value": "Plan a trip", "output.value": "Done."})
    run = run_of(steps_of(crew, chat(1, "You are a planner. Current Task: Plan a trip ...", "Thought: ...")))
    assert (run["input_preview"], run["output_preview"]) == ("Plan a trip", "Done.")


def test_the_roots_value_is_shown_when_the_run_has_nothing_better():
    graph = root("LangGraph", {"openinference.span.kind": "CHAIN", "input.value": '{"topic": "x"}'})
    assert run_of(steps_of(graph))["input_preview"] == '{"topic": "x"}'


def test_the_answer_is_the_latest_calls_text_not_a_tool_request():
    ask_tool = json.dumps(
        [{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "get_weather", "arguments": {}}]}]
    )
    tool_call = at(4, "chat 4", {**CHAT, "gen_ai.usage.input_tokens": 5, "gen_ai.output.messages": ask_tool})
    run = run_of(steps_of(root(), chat(1, "q", "first answer"), tool_call))
    assert run["output_preview"] == "first answer"


# --- LLM calls and double records ------------------------------------------------------------------


def test_an_llm_span_that_made_no_call_is_not_counted():
    # LlamaIndex's _prepare_chat_with_tools: LLM kind, a prompt, no usage, no answer.
    prepare = at(1, "OpenAI._prepare_chat_with_tools", {"openinference.span.kind": "LLM", "input.value": "{}"})
    failed = at(2, "chat", {**CHAT}, error="context too long")
    run = run_of(steps_of(root(), prepare, failed, chat(3, "q", "a")))
    assert run["llm_calls"] == 2  # the failed call and the answered one
    assert run["step_count"] == 4


def anthropic_call(offset: int, name: str, attrs: dict[str, Any], **kw: Any) -> SpanSpec:
    usage = {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 80}
    return at(offset, name, {**usage, **attrs}, **kw)


def test_two_instrumentations_of_one_call_count_once_and_both_stay():
    openllmetry = anthropic_call(
        1, "anthropic.chat", {"gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-3-5-sonnet-latest",
                              "llm.request.type": "chat", "gen_ai.prompt.0.role": "user",
                              "gen_ai.prompt.0.content": "hi"},
    )  # fmt: skip
    sdk = anthropic_call(
        1, "anthropic.messages.create",
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
         "gen_ai.response.model": "claude-3-5-sonnet-20241022"},
    )  # fmt: skip
    steps = steps_of(root(), openllmetry, sdk=(sdk,))
    duplicates = [s for s in steps if s.duplicate_of]
    assert len(duplicates) == 1
    kept = next(s for s in steps if s.span_id == duplicates[0].duplicate_of)
    assert kept.name == "anthropic.chat"  # it carries the messages
    run = run_of(steps)
    assert (run["step_count"], run["llm_calls"], run["input_tokens"], run["output_tokens"]) == (3, 1, 1200, 80)
    staged = stage(steps, CONFIG)
    costs = [row[20] for row in staged.rows if row[20] is not None]  # cost_usd
    assert len(costs) == 1 and costs[0] > 0


def test_one_instrumentations_identical_parallel_calls_are_two_calls():
    same = {**CHAT, "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 5}
    steps = steps_of(root(), at(1, "chat gpt-4o", same), at(1, "chat GPT-4o", same))
    assert not any(s.duplicate_of for s in steps)
    assert run_of(steps)["llm_calls"] == 2
    # And one call after another, the second starting as the first ends, from two libraries even.
    steps = steps_of(root(), at(1, "chat gpt-4o", same), sdk=(at(2, "chat gpt-4o", same),))
    assert not any(s.duplicate_of for s in steps)


def test_a_model_call_span_around_another_with_its_usage_is_one_call():
    # Google ADK 1.x: call_llm wraps generate_content, both with the call's usage, both ADK's.
    outer_id = b"\x00" * 7 + b"\x02"
    usage = {**CHAT, "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 26}
    outer = SpanSpec("call_llm", usage, span_id=outer_id, parent=ROOT, start_ns=START + NS, end_ns=START + 3 * NS)
    inner = SpanSpec("generate_content", usage, parent=outer_id, start_ns=START + NS + 1, end_ns=START + 3 * NS - 1)
    steps = steps_of(root(), outer, inner)
    assert sum(1 for s in steps if s.duplicate_of) == 1
    assert (run_of(steps)["llm_calls"], run_of(steps)["input_tokens"]) == (1, 200)


def test_calls_with_other_usage_or_apart_in_time_are_not_duplicates():
    a = anthropic_call(1, "anthropic.chat", {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-sonnet"})
    later = anthropic_call(
        9, "anthropic.messages.create", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-3-5-sonnet"}
    )
    other_usage = at(1, "other", {**CHAT, "gen_ai.usage.input_tokens": 1201, "gen_ai.usage.output_tokens": 80})
    other_model = anthropic_call(1, "x", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})
    steps = steps_of(root(), a, sdk=(later, other_usage, other_model))
    assert not any(s.duplicate_of for s in steps)


def test_a_failed_call_recorded_twice_is_one_failed_call():
    # The Anthropic SDK and OpenLLMetry both record a call the API refused: no usage on either.
    refused = {"gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.operation.name": "chat"}
    openllmetry = at(1, "anthropic.chat", {**refused, "llm.request.type": "chat"}, error="400")
    sdk = at(1, "anthropic.messages.create", refused, error="")
    sdk.error = "invalid_request_error"
    steps = steps_of(root(), openllmetry, sdk=(sdk,))
    assert sum(1 for s in steps if s.duplicate_of) == 1
    run = run_of(steps)
    assert (run["llm_calls"], run["error_count"]) == (1, 2)  # both steps stay, and both failed
