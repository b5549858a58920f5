"""Vercel AI SDK: generateText with a tool and stopWhen, then a call the fake rejects (its own trace).
Captured with AI SDK 6's experimental_telemetry (agent_run_v6), AI SDK 7's LegacyOpenTelemetry
(agent_run_legacy, the same ai.* spans) and AI SDK 7's OpenTelemetry integration (agent_run, OTel GenAI
spans plus the SDK's own step spans and ai.settings.context.*)."""

from __future__ import annotations

import pytest

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from tests.traces.ingest.test_normalize import make_span
from traces.ingest.conventions.vercel_ai import from_ai_sdk, provider
from traces.ingest.normalize import normalize
from traces.ingest.steps import Step, StepKind

WEATHER = {"city": "Paris", "sky": "sunny", "celsius": 21}
ANSWER = "It is sunny in Paris, 21 degrees."


def _one(step: Step | None) -> Step:
    assert step is not None
    return step


@pytest.mark.parametrize("case", ["agent_run_v6", "agent_run_legacy"])
def test_ai_spans_become_agent_llm_and_tool_steps(case: str) -> None:
    steps = steps_of("vercel_ai", case)
    assert {s.convention for s in steps} == {"vercel_ai"}
    assert not of_kind(steps, StepKind.SPAN)  # nothing left generic
    run, failed_run = of_kind(steps, StepKind.AGENT)
    first, second, failed = of_kind(steps, StepKind.LLM)
    (tool,) = of_kind(steps, StepKind.TOOL)

    # The loop: the agent named by functionId, its question and answer, usage summed over its steps.
    assert run.name == "ai.generateText"
    assert run.agent_name == "weather_agent"
    assert [(m["role"], text_of(m)) for m in run.input] == [
        ("system", "You are a weather assistant. Use the tools."),
        ("user", "What is the weather in Paris?"),
    ]
    assert run.output == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}
    ]
    assert (run.input_tokens, run.output_tokens, run.cache_read_tokens, run.reasoning_tokens) == (480, 30, 128, 16)
    assert run.usage_is_aggregate is True
    assert (run.user_id, run.session_id, run.metadata) == ("user-42", "sess-vercel-1", {"tenant": "acme"})

    # Each model call: the OTel provider name (not "openai.responses"), its own usage and messages.
    assert (first.model, first.provider) == ("gpt-4.1-mini-2025-04-14", "openai")
    assert first.attributes["ai.model.provider"] == "openai.responses"  # what was sent stays
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens, first.reasoning_tokens) == (
        200,
        18,
        64,
        8,
    )
    assert (second.input_tokens, second.output_tokens) == (280, 12)
    assert first.usage_is_aggregate is False
    assert [m["role"] for m in first.input] == ["system", "user"]
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
            "finish_reason": "tool-calls",
        }
    ]
    assert [m["role"] for m in second.input] == ["system", "user", "assistant", "tool"]
    assert second.input[3]["parts"] == [
        {
            "type": "tool_call_response",
            "id": "call_weather_1",
            "response": WEATHER,
            "name": "get_weather",
            "providerOptions": {"openai": {"itemId": "fc_fake0001"}},  # kept: nothing sent is lost
        }
    ]
    assert text_of(second.output[0]) == ANSWER
    assert "ai.prompt.messages" not in second.attributes and "ai.response.text" not in second.attributes

    assert (tool.tool_name, tool.tool_call_id, tool.input, tool.output) == (
        "get_weather",
        "call_weather_1",
        {"city": "Paris"},
        WEATHER,
    )

    # The rejected call: its loop and its model call are errors, with no usage and no output.
    assert failed.trace_id == failed_run.trace_id != run.trace_id
    assert failed.status == failed_run.status == "error"
    assert failed.error_type == "AI_APICallError"
    assert failed.error_message == "This model's maximum context length was exceeded."
    assert (failed.input_tokens, failed.output, failed_run.usage_is_aggregate) == (None, None, False)
    assert text_of(failed.input[-1]) == "FAIL: now summarize the whole week."


def test_otel_genai_spans_of_ai_sdk_7_with_step_spans_and_runtime_context() -> None:
    steps = steps_of("vercel_ai", "agent_run")
    run, failed_run = of_kind(steps, StepKind.AGENT)
    assert (run.agent_name, run.user_id, run.session_id) == ("weather_agent", "user-42", "sess-vercel-1")
    assert run.metadata == {"tenant": "acme"}
    steps_1_and_2 = [s for s in of_kind(steps, StepKind.CHAIN) if s.trace_id == run.trace_id]
    assert [s.name for s in steps_1_and_2] == ["step 1", "step 2"]  # agent_step: CHAIN, not generic
    first, second, _failed = of_kind(steps, StepKind.LLM)
    assert (first.model, first.provider, first.input_tokens, first.cache_read_tokens) == (
        "gpt-4.1-mini-2025-04-14",
        "openai",
        200,
        64,
    )
    assert text_of(second.output[0]) == ANSWER
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert (tool.tool_name, tool.output) == ("get_weather", WEATHER)
    assert failed_run.status == "error"


@pytest.mark.parametrize(
    ("sent", "name"),
    [
        ("openai.responses", "openai"),
        ("openai.chat", "openai"),
        ("anthropic.messages", "anthropic"),
        ("google.vertex.chat", "gcp.vertex_ai"),
        ("google.generative-ai", "gcp.gemini"),
        ("amazon-bedrock", "aws.bedrock"),
        ("mistral.chat", "mistral_ai"),
        ("azure.responses", "azure.ai.openai"),
        ("groq.chat", "groq"),
        ("", None),
        (None, None),
    ],
)
def test_the_sdks_provider_ids_map_to_otel_provider_names(sent: str | None, name: str | None) -> None:
    assert provider(sent) == name


def test_ai_sdk_4_names_and_a_streamed_call() -> None:
    step = _one(
        normalize(
            make_span(
                {
                    "ai.operationId": "ai.streamText.doStream",
                    "ai.model.id": "claude-sonnet-4-5",
                    "ai.model.provider": "anthropic.messages",
                    "ai.usage.promptTokens": 11,
                    "ai.usage.completionTokens": 7,
                    "ai.prompt.messages": '[{"role":"user","content":[{"type":"text","text":"hi"}]}]',
                    "ai.response.toolCalls": '[{"toolCallId":"t1","toolName":"get_weather","args":"{\\"city\\":\\"Oslo\\"}"}]',
                    "ai.response.text": "",
                },
                name="ai.streamText.doStream",
            )
        )
    )
    assert (step.kind, step.model, step.provider, step.input_tokens, step.output_tokens) == (
        StepKind.LLM,
        "claude-sonnet-4-5",
        "anthropic",
        11,
        7,
    )
    assert step.output == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"city": "Oslo"}}],
        }
    ]


def test_message_parts_convert_and_unknown_ones_are_kept() -> None:
    converted = from_ai_sdk(
        [
            {
                "role": "user",
                "content": [{"type": "image", "image": "https://example.com/a.png", "mediaType": "image/png"}],
            },
            {"role": "assistant", "content": [{"type": "reasoning", "text": "think"}, {"type": "custom", "x": 1}]},
            {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "t", "result": "plain"}]},
            {
                "role": "tool",
                "content": [{"type": "tool-result", "toolCallId": "u", "output": {"type": "text", "value": "v"}}],
            },
            {
                "role": "tool",
                "content": [{"type": "tool-result", "toolCallId": "e", "output": {"type": "error-text", "value": "x"}}],
            },
        ]
    )
    assert converted == [
        {
            "role": "user",
            "parts": [
                {"type": "uri", "modality": "image", "mime_type": "image/png", "uri": "https://example.com/a.png"}
            ],
        },
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "think"}, {"type": "custom", "x": 1}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t", "response": "plain"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "u", "response": "v"}]},
        # An error result stays wrapped, so that it reads as an error.
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "e", "response": {"type": "error-text", "value": "x"}}],
        },
    ]
    assert from_ai_sdk('{"not": "a list"}') is None
    assert from_ai_sdk([{"content": "no role"}]) is None


def test_a_prompt_that_is_not_the_sdks_shape_stays_in_attributes() -> None:
    step = _one(
        normalize(
            make_span(
                {"ai.operationId": "ai.generateText", "ai.prompt": "not json", "ai.telemetry.functionId": "f"},
                name="ai.generateText",
            )
        )
    )
    assert (step.kind, step.input, step.agent_name) == (StepKind.AGENT, None, "f")
    assert step.attributes["ai.prompt"] == "not json"


def test_an_embedding_call_and_its_wrapper() -> None:
    attrs = {"ai.model.id": "text-embedding-3-small", "ai.model.provider": "openai.embedding", "ai.usage.tokens": 9}
    call = _one(normalize(make_span({"ai.operationId": "ai.embed.doEmbed", **attrs}, name="ai.embed.doEmbed")))
    wrapper = _one(normalize(make_span({"ai.operationId": "ai.embed", **attrs}, name="ai.embed")))
    assert (call.kind, call.model, call.provider, call.input_tokens) == (
        StepKind.EMBEDDING,
        "text-embedding-3-small",
        "openai",
        9,
    )
    assert call.usage_is_aggregate is False
    # The wrapper repeats its call's usage: a chain's usage is a sum, never added to the run again.
    assert (wrapper.kind, wrapper.input_tokens, wrapper.usage_is_aggregate) == (StepKind.CHAIN, 9, True)


def test_tool_calls_with_more_than_a_part_holds_stay_in_attributes() -> None:
    calls = '[{"toolCallId":"t1","toolName":"get_weather","input":{"city":"Oslo"},"providerMetadata":{"x":{"id":"i"}}}]'
    step = _one(
        normalize(
            make_span(
                {"ai.operationId": "ai.generateText.doGenerate", "ai.response.toolCalls": calls},
                name="ai.generateText.doGenerate",
            )
        )
    )
    assert step.output == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"city": "Oslo"}}],
        }
    ]
    assert step.attributes["ai.response.toolCalls"] == calls
