"""OpenTelemetry GenAI semantic conventions, current names and the older ones still in the wild.

Current (1.37+): gen_ai.provider.name, gen_ai.usage.input_tokens/output_tokens, cache_read/
cache_creation/reasoning tokens, gen_ai.input.messages / output.messages / system_instructions,
gen_ai.tool.call.arguments/result. Older: gen_ai.system (<=1.36), gen_ai.usage.prompt_tokens/
completion_tokens (<=1.26), gen_ai.prompt / gen_ai.completion JSON and per-message span events
(gen_ai.content.prompt, gen_ai.user.message, gen_ai.choice, ...), whose content may be Bedrock Converse
blocks (Strands Agents). Newest opt-in (Strands with gen_ai_latest_experimental): gen_ai.input.messages /
output.messages as attributes of a `gen_ai.client.inference.operation.details` span event, read like the
span attributes. Pydantic AI's invoke_agent spans report gen_ai.aggregated_usage.*.

This module is also the filler for every other convention: after the primary one, it fills what is
still missing from any gen_ai.* attribute the span carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_str, has_key_prefix, loads
from traces.ingest.spans import Span, SpanEvent
from traces.ingest.steps import StepKind

NAME = "otel_genai"

KINDS = {
    "chat": StepKind.LLM,
    "text_completion": StepKind.LLM,
    "generate_content": StepKind.LLM,
    "completion": StepKind.LLM,
    "embeddings": StepKind.EMBEDDING,
    "embedding": StepKind.EMBEDDING,
    "execute_tool": StepKind.TOOL,
    "invoke_agent": StepKind.AGENT,
    "create_agent": StepKind.AGENT,
    "invoke_workflow": StepKind.CHAIN,
    "retrieval": StepKind.RETRIEVER,
    "apply_guardrail": StepKind.GUARDRAIL,
    "guardrail.run": StepKind.GUARDRAIL,  # OpenLLMetry's guardrail spans
}

# The event the newest conventions put the content on when it is not on the span (semconv 1.37+).
DETAILS_EVENT = "gen_ai.client.inference.operation.details"

# Instrumentation scopes whose gen_ai.tool.call.result is a list of content blocks (Strands Agents').
_CONTENT_BLOCK_SCOPES = frozenset({"strands.telemetry.tracer"})

_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def matches(span: Span) -> bool:
    return has_key_prefix(span.attributes, "gen_ai.")


def kind(attrs: dict[str, Any]) -> StepKind | None:
    operation = attrs.get("gen_ai.operation.name")
    return KINDS.get(operation) if isinstance(operation, str) else None


def extract(span: Span, d: Draft) -> None:
    d.fill_str("model", "gen_ai.response.model", "gen_ai.request.model")
    d.fill_provider("gen_ai.provider.name", "gen_ai.system")

    if "gen_ai.aggregated_usage.input_tokens" in d.attrs or "gen_ai.aggregated_usage.output_tokens" in d.attrs:
        _usage(d, "gen_ai.aggregated_usage.")
        d.usage_is_aggregate = True
    _usage(d, "gen_ai.usage.")

    d.fill_str("tool_name", "gen_ai.tool.name")
    d.fill_str("tool_call_id", "gen_ai.tool.call.id")
    d.fill_str("agent_name", "gen_ai.agent.name")
    d.fill_str("session_id", "gen_ai.conversation.id")

    if d.kind in (StepKind.TOOL, StepKind.APPROVAL):  # an approval holds a tool call for a human
        d.fill_payload("input", "gen_ai.tool.call.arguments")
        d.fill_payload("output", "gen_ai.tool.call.result")
        # A result sent as content blocks ([{"text": ...}]) is shown as their text. Taken from a popped
        # attribute only where the library is known to write blocks: elsewhere such a list is the tool's
        # own return value, kept as it is.
        unwrap = d.output is None or span.scope_name in _CONTENT_BLOCK_SCOPES
        if span.events and (d.input is None or d.output is None):
            _tool_events(span.events, d)  # the events stay on the step: unwrapping loses nothing
        if d.output is None and "anthropic.tool_result.content" in d.attrs:
            # The Anthropic SDK's own execute_tool spans (its tool runner) put the result there, as
            # content blocks; the attribute stays, as unwrapping them drops their "type".
            d.output = loads(d.attrs["anthropic.tool_result.content"])
        if unwrap:
            d.output = m.tool_result_content(d.output)
    elif d.kind in (StepKind.LLM, StepKind.AGENT) or "gen_ai.input.messages" in d.attrs:
        _messages(span, d)


def _usage(d: Draft, prefix: str) -> None:
    d.fill_int("input_tokens", prefix + "input_tokens", prefix + "prompt_tokens")
    d.fill_int("output_tokens", prefix + "output_tokens", prefix + "completion_tokens")
    d.fill_int(
        "cache_read_tokens",
        prefix + "cache_read.input_tokens",
        prefix + "cache_read_input_tokens",
        prefix + "details.cache_read_tokens",
    )
    d.fill_int(
        "cache_write_tokens",
        prefix + "cache_creation.input_tokens",
        prefix + "cache_write.input_tokens",
        prefix + "cache_creation_input_tokens",
        prefix + "details.cache_write_tokens",
    )
    d.fill_int(
        "reasoning_tokens",
        prefix + "reasoning.output_tokens",
        prefix + "reasoning_tokens",
        prefix + "details.reasoning_tokens",
    )


def _messages(span: Span, d: Draft) -> None:
    attrs = d.attrs
    if d.input is None:
        system = None
        if "gen_ai.system_instructions" in attrs:
            system = m.system_message(attrs["gen_ai.system_instructions"])
            if system is not None:
                del attrs["gen_ai.system_instructions"]
        found = _pop_messages(d, "gen_ai.input.messages", m.from_otel)
        if found is None:
            found = _pop_messages(d, "gen_ai.prompt", m.from_openai)  # pre-1.37 JSON string
        if found is None and span.events:
            found = details_messages(span.events, "gen_ai.input.messages") or event_input(span.events)
            if system is None:
                system = details_system(span.events)
        if found is not None or system is not None:
            d.input = m.with_system(found, system)
    if d.output is None:
        found = _pop_messages(d, "gen_ai.output.messages", m.from_otel)
        if found is None:
            found = _pop_messages(d, "gen_ai.completion", m.from_openai)
        if found is None and span.events:
            found = details_messages(span.events, "gen_ai.output.messages") or event_output(span.events)
        if found is not None:
            d.output = found


def _pop_messages(d: Draft, key: str, convert: Any) -> list[m.Message] | None:
    if key not in d.attrs:
        return None
    found = convert(d.attrs[key])
    if found is not None:
        del d.attrs[key]
    return found


# Span events are kept on the step as they came; messages built from them are a copy for the UI.
# Public: log records of the same events (instrumentations that send them to /v1/logs instead of the
# span) become messages the same way, at read time (traces.presenters.with_logs).


def details_messages(events: Iterable[SpanEvent], key: str) -> list[m.Message] | None:
    """The messages under `key` (gen_ai.input.messages or gen_ai.output.messages) of the first
    gen_ai.client.inference.operation.details event that holds them; None if none does."""
    for event in events:
        if event.name == DETAILS_EVENT and key in event.attributes:
            found = m.from_otel(event.attributes[key])
            if found is not None:
                return found
    return None


def details_system(events: Iterable[SpanEvent]) -> m.Message | None:
    """The system instructions of the first operation-details event that holds them, as a message."""
    for event in events:
        if event.name == DETAILS_EVENT and "gen_ai.system_instructions" in event.attributes:
            return m.system_message(event.attributes["gen_ai.system_instructions"])
    return None


def _tool_events(events: tuple[SpanEvent, ...], d: Draft) -> None:
    """A tool span's arguments and result from its events (Strands Agents): the tool_call /
    tool_call_response part of the details event (newest opt-in), else the gen_ai.tool.message event's
    content (the arguments) and the gen_ai.choice event's message (the result)."""
    for event in events:
        attrs = event.attributes
        if event.name == DETAILS_EVENT:
            for key, field, part_type, value_key in (
                ("gen_ai.input.messages", "input", "tool_call", "arguments"),
                ("gen_ai.output.messages", "output", "tool_call_response", "response"),
            ):
                if getattr(d, field) is None and key in attrs:
                    for message in m.from_otel(attrs[key]) or ():
                        for part in message["parts"]:
                            if isinstance(part, dict) and part.get("type") == part_type and value_key in part:
                                setattr(d, field, part[value_key])
        elif event.name == "gen_ai.tool.message" and d.input is None:
            d.input = loads(attrs.get("content"))
        elif event.name == "gen_ai.choice" and d.output is None:
            d.output = loads(attrs.get("message"))


def event_input(events: Iterable[SpanEvent]) -> list[m.Message] | None:
    """The input messages that per-message GenAI events (gen_ai.content.prompt, gen_ai.<role>.message)
    carry; None if there are none. Each event's attributes are its body, as 1.27-1.36 emitters wrote them."""
    out: list[m.Message] = []
    for event in events:
        if event.name == "gen_ai.content.prompt":
            found = m.from_openai(event.attributes.get("gen_ai.prompt"))
            if found:
                out.extend(found)
        elif event.name in _MESSAGE_EVENTS:
            out.append(_event_message(_MESSAGE_EVENTS[event.name], event.attributes))
    return out or None


def event_output(events: Iterable[SpanEvent]) -> list[m.Message] | None:
    """The output messages that GenAI events (gen_ai.content.completion, gen_ai.choice) carry; None if
    there are none."""
    out: list[m.Message] = []
    for event in events:
        if event.name == "gen_ai.content.completion":
            found = m.from_openai(event.attributes.get("gen_ai.completion"))
            if found:
                out.extend(found)
        elif event.name == "gen_ai.choice":
            body = event.attributes
            message = loads(body.get("message"))
            if isinstance(message, dict):
                fields = dict(message)
            elif isinstance(message, (list, str)):  # Strands: the content blocks, or the answer's text
                fields = {"content": message}
            else:
                fields = {"content": body.get("content")}
            fields.setdefault("tool_calls", body.get("tool_calls"))
            msg = _event_message(fields.get("role") or "assistant", fields)
            finish = as_str(body.get("finish_reason"))
            if finish is not None:
                msg["finish_reason"] = finish
            out.append(msg)
    return out or None


def _event_message(role: str, body: dict[str, Any]) -> m.Message:
    item: dict[str, Any] = {"role": role, "content": loads(body.get("content"))}
    calls = loads(body.get("tool_calls"))
    if isinstance(calls, list):
        item["tool_calls"] = calls
    if role == "tool" and body.get("id") is not None:
        item["tool_call_id"] = body["id"]
    return m.from_openai(item)[0]  # type: ignore[index]
