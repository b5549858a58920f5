"""MLflow tracing over OTLP (mlflow-skinny 3.17.2, mlflow.openai.autolog + @mlflow.trace): its own
JSON-quoted mlflow.* attributes, and the gen_ai.* ones it writes with MLFLOW_ENABLE_OTEL_GENAI_SEMCONV."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from tests.traces.ingest.test_normalize import one
from traces.ingest.steps import StepKind


def test_autologged_chat_calls_tool_and_agent() -> None:
    steps = steps_of("mlflow", "agent_run")
    assert {s.convention for s in steps} == {"mlflow"}
    first, second, failed = of_kind(steps, StepKind.LLM)  # mlflow.spanType "CHAT_MODEL"
    assert first.model == "gpt-4.1-mini-2025-04-14"  # mlflow.llm.model, JSON-quoted
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens) == (200, 18, 64)
    assert "mlflow.chat.tokenUsage" not in first.attributes
    # mlflow.spanInputs is the request body, mlflow.spanOutputs the ChatCompletion (format "openai")
    assert [m["role"] for m in first.input] == ["system", "user"]
    assert first.output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
            "finish_reason": "tool_calls",
        }
    ]
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    # a failed call has only the request: the model comes from autologging's `model` attribute
    assert failed.status == "error" and failed.model == "gpt-4.1-mini" and failed.output is None

    (tool,) = of_kind(steps, StepKind.TOOL)
    assert tool.tool_name == "get_weather"  # the span name given to @mlflow.trace
    assert tool.input == {"city": "Paris"}
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    (agent,) = of_kind(steps, StepKind.AGENT)
    assert agent.agent_name == "weather_agent"
    assert agent.input == {"question": "What is the weather in Paris?"}


def test_genai_semconv_export_is_read_by_otel_genai() -> None:
    steps = steps_of("mlflow", "agent_run_genai_semconv")
    first, _, _ = of_kind(steps, StepKind.LLM)
    assert first.convention == "otel_genai"
    assert first.model == "gpt-4.1-mini-2025-04-14"
    assert (first.input_tokens, first.output_tokens) == (200, 18)
    assert first.cache_read_tokens is None  # MLflow's translation drops the cached tokens
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}


def _quoted(value: object) -> str:
    return json.dumps(value)


def test_cost_provider_and_other_message_formats() -> None:
    step = one(
        {
            "mlflow.spanType": _quoted("LLM"),
            "mlflow.llm.model": _quoted("claude-sonnet-4-5"),
            "mlflow.llm.provider": _quoted("anthropic"),
            "mlflow.llm.cost": _quoted({"input_cost": 0.001, "output_cost": 0.002, "total_cost": 0.003}),
            "mlflow.chat.tokenUsage": _quoted(
                {"input_tokens": 10, "output_tokens": 2, "cache_creation_input_tokens": 4}
            ),
            "mlflow.message.format": _quoted("anthropic"),
            "mlflow.spanInputs": _quoted({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}),
            "mlflow.spanOutputs": _quoted({"content": [{"type": "text", "text": "hello"}]}),
        }
    )
    assert step.kind is StepKind.LLM and step.convention == "mlflow"
    assert (step.model, step.provider) == ("claude-sonnet-4-5", "anthropic")
    assert step.reported_cost_usd == Decimal("0.003")
    assert (step.input_tokens, step.output_tokens, step.cache_write_tokens) == (10, 2, 4)
    # not the OpenAI shape: the payloads are kept as sent (parsed)
    assert step.input == {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    assert step.output == {"content": [{"type": "text", "text": "hello"}]}
    assert {"mlflow.llm.model", "mlflow.llm.provider", "mlflow.llm.cost", "mlflow.chat.tokenUsage"}.isdisjoint(
        step.attributes
    )


def test_span_types_and_hostile_values() -> None:
    assert one({"mlflow.spanType": _quoted("RETRIEVER")}).kind is StepKind.RETRIEVER
    assert one({"mlflow.spanType": _quoted("WORKFLOW")}).kind is StepKind.CHAIN
    unknown = one({"mlflow.spanType": _quoted("UNKNOWN"), "mlflow.spanInputs": "not json {"})
    assert unknown.kind is StepKind.SPAN and unknown.input == "not json {"
    # a spanType that is not a string, usage that is not an object: nothing promoted, nothing lost
    odd = one({"mlflow.spanType": "[1]", "mlflow.chat.tokenUsage": "[1, 2]", "mlflow.llm.cost": "3"})
    assert odd.kind is StepKind.SPAN and odd.input_tokens is None and odd.reported_cost_usd is None
    assert odd.attributes["mlflow.chat.tokenUsage"] == "[1, 2]"
    bad_output = one(
        {
            "mlflow.spanType": _quoted("CHAT_MODEL"),
            "mlflow.message.format": _quoted("openai"),
            "mlflow.spanOutputs": _quoted({"choices": [{"message": "not a message"}]}),
        }
    )
    assert bad_output.output == {"choices": [{"message": "not a message"}]}
