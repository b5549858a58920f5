"""Langfuse (SDK v3+, OpenTelemetry-based): langfuse.observation.{type,level,status_message,input,
output,model.name,usage_details,cost_details,metadata.*}, langfuse.trace.{tags,metadata.*},
langfuse.environment, session.id / user.id (older SDKs: langfuse.session.id / langfuse.user.id).

Inputs and outputs are JSON text holding whatever the user passed: OpenAI-style message lists become
canonical messages on generations; anything else is wrapped (see messages.wrap) there and kept as
parsed JSON on other steps. usage_details and cost_details stay in attributes as well: they hold more
than the step's fields (totals, audio tokens, per-part cost).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_decimal, as_int, as_str, loads
from traces.ingest.conventions.openllmetry import unwrap_call
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "langfuse"

KINDS = {
    "generation": StepKind.LLM,
    "embedding": StepKind.EMBEDDING,
    "tool": StepKind.TOOL,
    "agent": StepKind.AGENT,
    "chain": StepKind.CHAIN,
    "retriever": StepKind.RETRIEVER,
    "guardrail": StepKind.GUARDRAIL,
    "evaluator": StepKind.SPAN,
    "span": StepKind.SPAN,
    "event": StepKind.SPAN,
}

# usage_details keys, Langfuse's own names first, then the OpenAI usage object it often carries.
_USAGE = {
    "input_tokens": ("input", "prompt_tokens", "input_tokens"),
    "output_tokens": ("output", "completion_tokens", "output_tokens"),
    "cache_read_tokens": ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read"),
    "cache_write_tokens": ("cache_creation_input_tokens", "input_cache_creation"),
    "reasoning_tokens": ("output_reasoning_tokens", "output_reasoning"),
}


def matches(span: Span) -> bool:
    return span.scope_name.startswith("langfuse") or "langfuse.observation.type" in span.attributes


def kind(attrs: dict[str, Any]) -> StepKind | None:
    value = attrs.get("langfuse.observation.type")
    return KINDS.get(value) if isinstance(value, str) else None


def extract(span: Span, d: Draft) -> None:
    attrs = d.attrs
    d.fill_str("model", "langfuse.observation.model.name")
    _usage(d, loads(attrs.get("langfuse.observation.usage_details")))
    cost = loads(attrs.get("langfuse.observation.cost_details"))
    if isinstance(cost, dict) and d.reported_cost_usd is None:
        total = as_decimal(cost.get("total"))
        if total is None:
            parts = [p for p in (as_decimal(v) for v in cost.values()) if p is not None]
            total = sum(parts, Decimal(0)) if parts else None
        d.reported_cost_usd = total
    if attrs.get("langfuse.observation.level") == "ERROR":
        d.status = "error"
        d.fill_str("error_message", "langfuse.observation.status_message")
    d.fill_str("session_id", "session.id", "langfuse.session.id")
    d.fill_str("user_id", "user.id", "langfuse.user.id")
    d.fill_str("environment", "langfuse.environment")
    _tags(d)
    for prefix in ("langfuse.trace.metadata.", "langfuse.observation.metadata."):
        for key in [k for k in attrs if k.startswith(prefix)]:
            d.metadata[key[len(prefix) :]] = _json_value(attrs.pop(key))
    for key in ("langfuse.trace.metadata", "langfuse.observation.metadata"):
        value = loads(attrs.get(key))
        if isinstance(value, dict):
            d.metadata.update(value)
            del attrs[key]

    for name, role in (("input", "user"), ("output", "assistant")):
        key = f"langfuse.observation.{name}"
        if getattr(d, name) is not None or key not in attrs:
            continue
        value = loads(attrs[key])
        if d.kind is StepKind.LLM:
            converted = m.from_openai(value)
            setattr(d, name, converted or m.wrap(value, role))
            # A request body holds more than its messages (tools, parameters): keep it as sent.
            if converted is None or not _only_messages(value):
                continue
            del attrs[key]
        else:
            setattr(d, name, unwrap_call(value) if d.kind is StepKind.TOOL and name == "input" else value)
            del attrs[key]


def _usage(d: Draft, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    details = {}
    for nested in ("prompt_tokens_details", "completion_tokens_details"):
        if isinstance(usage.get(nested), dict):
            details[nested] = usage[nested]
    for field, keys in _USAGE.items():
        if getattr(d, field) is not None:
            continue
        for key in keys:
            value = as_int(usage.get(key))
            if value is not None:
                setattr(d, field, value)
                break
    if d.cache_read_tokens is None and "prompt_tokens_details" in details:
        d.cache_read_tokens = as_int(details["prompt_tokens_details"].get("cached_tokens"))
    if d.reasoning_tokens is None and "completion_tokens_details" in details:
        d.reasoning_tokens = as_int(details["completion_tokens_details"].get("reasoning_tokens"))


def _tags(d: Draft) -> None:
    tags = loads(d.attrs.get("langfuse.trace.tags"))
    if isinstance(tags, list) and not d.tags:
        d.tags = [as_str(t) or str(t) for t in tags]
        del d.attrs["langfuse.trace.tags"]


def _json_value(value: Any) -> Any:
    """Langfuse JSON-encodes each metadata value ('"acme"', '3'); text that is not JSON stays text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name", "function_call"})


def _only_messages(value: Any) -> bool:
    """True when converting to canonical messages lost nothing: OpenAI messages and no other key."""
    items = value if isinstance(value, list) else [value]
    return all(
        isinstance(item, dict)
        and all(v is None or k in _MESSAGE_KEYS for k, v in item.items())
        and all(_plain_call(call) for call in item.get("tool_calls") or ())
        for item in items
    )


def _plain_call(call: Any) -> bool:
    return (
        isinstance(call, dict)
        and call.keys() <= {"id", "type", "function"}
        and call.get("type", "function") == "function"
        and isinstance(call.get("function"), dict)
        and call["function"].keys() <= {"name", "arguments"}
    )
