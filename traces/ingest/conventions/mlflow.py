"""MLflow tracing exported over OTLP (mlflow / mlflow-skinny / mlflow-tracing with an OTLP endpoint set).

Every value MLflow writes is JSON text, strings included (mlflow.spanType = '"CHAT_MODEL"'):
- mlflow.spanType: the step kind (LLM, CHAT_MODEL, TOOL, AGENT, CHAIN, RETRIEVER, ...);
- mlflow.spanInputs / mlflow.spanOutputs: the function's arguments and return value; on the spans of
  MLflow's autologging of an LLM client, the request body and the response body, in the shape that
  mlflow.message.format names ("openai" for the OpenAI client's chat completions);
- mlflow.llm.model (the model the response names), mlflow.llm.provider, mlflow.chat.tokenUsage
  ({"input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens",
  "cache_creation_input_tokens"}), mlflow.llm.cost ({"input_cost", "output_cost", "total_cost"}, USD).
Tools and agents have no name attribute: the span name is the one given to @mlflow.trace.

With MLFLOW_ENABLE_OTEL_GENAI_SEMCONV=true MLflow exports gen_ai.* attributes instead: otel_genai reads them.
"""

from __future__ import annotations

from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_decimal, as_int, as_str, loads, normalize_provider
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "mlflow"

KINDS = {
    "LLM": StepKind.LLM,
    "CHAT_MODEL": StepKind.LLM,
    "TOOL": StepKind.TOOL,
    "AGENT": StepKind.AGENT,
    "CHAIN": StepKind.CHAIN,
    "WORKFLOW": StepKind.CHAIN,
    "TASK": StepKind.CHAIN,
    "PARSER": StepKind.CHAIN,
    "RETRIEVER": StepKind.RETRIEVER,
    "RERANKER": StepKind.RETRIEVER,
    "EMBEDDING": StepKind.EMBEDDING,
    "GUARDRAIL": StepKind.GUARDRAIL,
}

_TYPE = "mlflow.spanType"
_USAGE = "mlflow.chat.tokenUsage"
_COST = "mlflow.llm.cost"


def matches(span: Span) -> bool:
    return _TYPE in span.attributes


def kind(attrs: dict[str, Any]) -> StepKind | None:
    span_type = loads(attrs.get(_TYPE))
    return KINDS.get(span_type) if isinstance(span_type, str) else None


def extract(span: Span, d: Draft) -> None:
    attrs = d.attrs
    _fill_quoted(d, "model", "mlflow.llm.model")
    if d.kind is StepKind.LLM:
        # The request's model, which autologging also writes as a plain `model` attribute: all a call
        # that failed has.
        _fill_quoted(d, "model", "model")
    provider = as_str(loads(attrs.get("mlflow.llm.provider")))
    if provider is not None and d.provider is None:
        d.provider = normalize_provider(provider)
        if d.provider == provider:  # as fill_provider does: a renamed value keeps its attribute
            del attrs["mlflow.llm.provider"]
    _usage(d)
    _cost(d)
    if d.kind is StepKind.TOOL and d.tool_name is None:
        d.tool_name = span.name

    inputs, outputs = loads(attrs.get("mlflow.spanInputs")), loads(attrs.get("mlflow.spanOutputs"))
    if d.kind is StepKind.LLM and loads(attrs.get("mlflow.message.format")) == "openai":
        _openai_messages(d, inputs, outputs)
    # Any other payload (a function's arguments and return value) is the step's input and output.
    if d.input is None and "mlflow.spanInputs" in attrs:
        del attrs["mlflow.spanInputs"]
        d.input = inputs
    if d.output is None and "mlflow.spanOutputs" in attrs:
        del attrs["mlflow.spanOutputs"]
        d.output = outputs


def _fill_quoted(d: Draft, name: str, key: str) -> None:
    if getattr(d, name) is None and key in d.attrs:
        value = as_str(loads(d.attrs[key]))
        if value is not None:
            del d.attrs[key]
            setattr(d, name, value)


def _usage(d: Draft) -> None:
    usage = loads(d.attrs.get(_USAGE))
    if not isinstance(usage, dict):
        return
    for name, key in (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_tokens", "cache_read_input_tokens"),
        ("cache_write_tokens", "cache_creation_input_tokens"),
    ):
        value = as_int(usage.get(key))
        if value is not None and getattr(d, name) is None:
            setattr(d, name, value)
    if d.has_usage():
        del d.attrs[_USAGE]


def _cost(d: Draft) -> None:
    cost = loads(d.attrs.get(_COST))
    if isinstance(cost, dict) and d.reported_cost_usd is None:
        total = as_decimal(cost.get("total_cost"))
        if total is not None:
            del d.attrs[_COST]
            d.reported_cost_usd = total


def _openai_messages(d: Draft, inputs: Any, outputs: Any) -> None:
    """The request body's messages and the response's choices (chat completions), when they are that.
    The bodies stay in attributes too, as they hold more than the messages (as OpenInference's do)."""
    d.input = m.from_openai(inputs)
    choices = outputs.get("choices") if isinstance(outputs, dict) else None
    if isinstance(choices, list) and choices and all(isinstance(c, dict) for c in choices):
        out = []
        for choice in choices:
            message = choice.get("message")
            if not isinstance(message, dict) or "role" not in message:
                return
            msg = m.openai_message(message)
            if choice.get("finish_reason") is not None:
                msg["finish_reason"] = choice["finish_reason"]
            out.append(msg)
        d.output = out
