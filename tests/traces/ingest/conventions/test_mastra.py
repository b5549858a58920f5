"""Mastra: an Agent with one tool on an AI SDK OpenAI model, its OtelExporter over OTLP/HTTP; then a
generate() the fake rejects (its own trace). User and session from tracingOptions.metadata."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from tests.traces.ingest.test_normalize import make_span
from traces.ingest.normalize import normalize
from traces.ingest.steps import StepKind

WEATHER = {"city": "Paris", "sky": "sunny", "celsius": 21}
ANSWER = "It is sunny in Paris, 21 degrees."


def test_agent_run_with_steps_model_calls_and_tool() -> None:
    steps = steps_of("mastra", "agent_run")
    assert {s.convention for s in steps} == {"mastra"}
    assert {(s.user_id, s.session_id) for s in steps} == {("user-42", "sess-mastra-1")}
    run, failed_run = of_kind(steps, StepKind.AGENT)

    # The run: the user's question after the instructions, the answer as an assistant message.
    assert (run.name, run.agent_name) == ("invoke_agent Weather Agent", "Weather Agent")
    assert [(m["role"], text_of(m)) for m in run.input] == [
        ("system", "You are a weather assistant. Use the tools."),
        ("user", "What is the weather in Paris?"),
    ]
    assert run.output == [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
    assert run.tags == ["weather", "fixture"]
    assert run.metadata["tenant"] == "acme" and "runId" in run.metadata
    assert "mastra.agent_run.input" not in run.attributes and "mastra.agent_run.output" not in run.attributes

    # generate() and its two steps are chains with their messages; the model calls are LLM steps.
    chains = [s for s in of_kind(steps, StepKind.CHAIN) if s.trace_id == run.trace_id]
    assert sorted(s.attributes["mastra.span.type"] for s in chains) == ["model_generation", "model_step", "model_step"]
    step_1, step_2 = sorted((s for s in chains if s.name.startswith("agent_step")), key=lambda s: s.start_ns)
    assert step_1.output[0]["parts"][0]["name"] == "get_weather"
    assert step_1.output[0]["parts"][0]["arguments"] == {"city": "Paris"}
    assert [m["role"] for m in step_2.input] == ["system", "user", "assistant", "tool"]
    assert text_of(step_2.output[0]) == ANSWER

    first, second, failed = of_kind(steps, StepKind.LLM)
    assert (first.model, first.provider) == ("gpt-4.1-mini-2025-04-14", "openai")  # not "openai.responses"
    assert first.attributes["gen_ai.provider.name"] == "openai.responses"
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens, first.reasoning_tokens) == (
        200,
        18,
        64,
        8,
    )
    assert (second.input_tokens, second.output_tokens) == (280, 12)
    assert text_of(second.output[0]) == ANSWER

    (tool,) = of_kind(steps, StepKind.TOOL)
    assert (tool.tool_name, tool.tool_call_id, tool.input, tool.output) == (
        "get_weather",
        "call_weather_1",
        {"city": "Paris"},
        WEATHER,
    )
    # Streaming chunks stay plain spans, their payload kept as output.
    chunks = of_kind(steps, StepKind.SPAN)
    assert {"text": ANSWER} in [c.output for c in chunks]

    # The rejected run: Mastra marks only the agent run as failed (its chat span says finish "error").
    assert failed_run.status == "error"
    assert failed_run.error_message == "This model's maximum context length was exceeded."
    assert text_of(failed_run.input[-1]) == "FAIL: now summarize the whole week."
    assert failed.trace_id == failed_run.trace_id and failed.input_tokens is None


def test_an_output_with_more_than_the_message_keeps_its_attribute() -> None:
    step = normalize(
        make_span(
            {
                "mastra.span.type": "agent_run",
                "mastra.agent_run.input": "hi",
                "mastra.agent_run.output": '{"text": "hello", "files": [{"name": "a.png"}]}',
            }
        )
    )
    assert step is not None
    assert step.kind is StepKind.AGENT
    assert step.input == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
    assert step.attributes["mastra.agent_run.output"] == '{"text": "hello", "files": [{"name": "a.png"}]}'


def test_unknown_span_types_and_odd_payloads_stay_as_sent() -> None:
    step = normalize(make_span({"mastra.span.type": "something_new", "mastra.model_step.input": 7}))
    assert step is not None
    assert (step.kind, step.convention, step.input) == (StepKind.SPAN, "mastra", None)
    assert step.attributes["mastra.model_step.input"] == 7


def test_with_memory_the_threads_owner_and_id_are_user_and_session() -> None:
    steps = steps_of("mastra", "agent_run_memory")
    assert {(s.user_id, s.session_id) for s in steps} == {("user-42", "sess-mastra-2")}  # resourceId / threadId
    run, failed_run = of_kind(steps, StepKind.AGENT)
    assert text_of(run.output[0]) == ANSWER
    # The memory's own spans keep their payloads, parsed: the history it loaded and saved.
    memory = [s for s in steps if s.attributes.get("mastra.span.type") == "memory_operation"]
    assert memory and all(s.kind is StepKind.SPAN for s in memory)
    saved = [s for s in memory if s.trace_id == run.trace_id and s.output]
    assert saved and isinstance(saved[-1].output["messages"], list)
    (processor, _) = (s for s in steps if s.attributes.get("mastra.span.type") == "processor_run")
    assert processor.kind is StepKind.CHAIN and isinstance(processor.input, dict)
    assert failed_run.input == [
        {"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant. Use the tools."}]},
        {"role": "user", "parts": [{"type": "text", "content": "FAIL: now summarize the whole week."}]},
    ]
