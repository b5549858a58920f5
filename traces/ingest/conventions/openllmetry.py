"""OpenLLMetry (Traceloop): traceloop.span.kind / traceloop.entity.* on decorated workflow, task, agent
and tool spans; traceloop.association.properties.* (session_id, user_id, customer_id, anything else) on
every span. LLM spans of instrumentation <= 0.4x flatten messages into gen_ai.prompt.N.* /
gen_ai.completion.N.* with llm.request.type; newer ones use OTel GenAI names, which the otel_genai
filler reads."""

from __future__ import annotations

from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_str, has_key_prefix, loads
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "openllmetry"

_SPAN_KINDS = {
    "workflow": StepKind.CHAIN,
    "task": StepKind.CHAIN,
    "agent": StepKind.AGENT,
    "tool": StepKind.TOOL,
}
_REQUEST_TYPES = {
    "chat": StepKind.LLM,
    "completion": StepKind.LLM,
    "embedding": StepKind.EMBEDDING,
    "rerank": StepKind.RETRIEVER,
}
_ASSOCIATION = "traceloop.association.properties."


def matches(span: Span) -> bool:
    attrs = span.attributes
    return "llm.request.type" in attrs or has_key_prefix(attrs, "traceloop.")


def kind(attrs: dict[str, Any]) -> StepKind | None:
    span_kind = attrs.get("traceloop.span.kind")
    if isinstance(span_kind, str) and span_kind in _SPAN_KINDS:
        return _SPAN_KINDS[span_kind]
    request_type = attrs.get("llm.request.type")
    return _REQUEST_TYPES.get(request_type) if isinstance(request_type, str) else None


def extract(span: Span, d: Draft) -> None:
    if d.kind is StepKind.TOOL:
        d.fill_str("tool_name", "traceloop.entity.name")
    elif d.kind is StepKind.AGENT:
        d.fill_str("agent_name", "traceloop.entity.name")
    d.fill_int("reasoning_tokens", "llm.usage.reasoning_tokens")
    _association(d)

    if d.kind is StepKind.LLM:
        if d.input is None:
            d.input = _flattened(d, "gen_ai.prompt.")
        if d.output is None:
            d.output = _flattened(d, "gen_ai.completion.")
    else:
        for name, key in (("input", "traceloop.entity.input"), ("output", "traceloop.entity.output")):
            if getattr(d, name) is None and key in d.attrs:
                value = loads(d.attrs.pop(key))
                setattr(d, name, unwrap_call(value) if name == "input" else value)


def unwrap_call(value: Any) -> Any:
    """Decorators record a call as {"args": [...], "kwargs": {...}}: keyword-only calls -> the kwargs."""
    if isinstance(value, dict) and value.keys() == {"args", "kwargs"} and value["args"] == []:
        return value["kwargs"]
    return value


def _association(d: Draft) -> None:
    keys = [key for key in d.attrs if key.startswith(_ASSOCIATION)]
    for key in keys:
        name = key[len(_ASSOCIATION) :]
        value = d.attrs.pop(key)
        if name == "session_id" and d.session_id is None:
            d.session_id = as_str(value)
        elif name == "user_id" and d.user_id is None:
            d.user_id = as_str(value)
        else:
            d.metadata[name] = value
    # The customer is the end user when no user id was associated.
    if d.user_id is None and "customer_id" in d.metadata:
        d.user_id = as_str(d.metadata.pop("customer_id"))


def _flattened(d: Draft, prefix: str) -> list[m.Message] | None:
    groups = m.collect_indexed(d.attrs, prefix)
    if not groups:
        return None
    attrs = d.attrs
    out: list[m.Message] = []
    for _, fields in groups:
        used = [fields[f] for f in ("role", "content", "tool_call_id", "finish_reason", "name") if f in fields]
        item: dict[str, Any] = {f: attrs[fields[f]] for f in ("role", "content", "tool_call_id", "name") if f in fields}
        item.setdefault("role", "assistant" if prefix == "gen_ai.completion." else "user")
        if isinstance(item.get("content"), str) and item["content"][:1] == "[":
            item["content"] = loads(item["content"])  # multimodal content is sent as JSON text
        calls = []
        for _, call in m.collect_indexed_fields(fields, "tool_calls."):
            call_keys = {f: fields.get(call + f) for f in ("id", "name", "arguments")}
            used.extend(k for k in call_keys.values() if k is not None)
            calls.append({f: attrs[k] if k else None for f, k in call_keys.items()})
        if calls:
            item["tool_calls"] = calls
        function_keys = {f: fields.get("function_call." + f) for f in ("name", "arguments")}
        if function_keys["name"]:
            used.extend(k for k in function_keys.values() if k is not None)
            item["function_call"] = {f: attrs[k] if k else None for f, k in function_keys.items()}
        msg = m.openai_message(item)
        if "finish_reason" in fields:
            msg["finish_reason"] = attrs[fields["finish_reason"]]
        out.append(msg)
        for key in used:
            del attrs[key]
    return out
