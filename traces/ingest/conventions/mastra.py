"""Mastra (@mastra/otel-exporter): every span says its type in `mastra.span.type` and carries OTel GenAI
names where they exist (read by the otel_genai filler), plus Mastra's own payloads:
- agent_run (AGENT): mastra.agent_run.input (the user's text, or an AI SDK message list) and
  mastra.agent_run.output (JSON {"text", "files", ...}); gen_ai.system_instructions as plain text;
- model_generation (CHAIN: one generate() over its steps): mastra.model_generation.input
  ({"messages": AI SDK messages}) and .output ({"text", "toolCalls", "reasoning", ...});
- model_step (CHAIN, gen_ai.operation.name "agent_step"): mastra.model_step.input / .output, as above;
- model_inference (LLM, gen_ai chat): usage and output messages in gen_ai.*; no input messages (they
  are on the step above it);
- model_chunk, memory_operation (SPAN), processor_run (CHAIN): mastra.<type>.input / .output, parsed;
  tool_call / mcp_tool_call (TOOL): gen_ai.tool.*;
- user and session: with memory, the thread's owner and id (mastra.metadata.resourceId / threadId; the
  thread is also gen_ai.conversation.id); without, the keys users give them in tracingOptions.metadata,
  sent as mastra.metadata.userId / sessionId; every other mastra.metadata.* key
  becomes metadata (JSON text parsed); tags from mastra.tags (JSON text).
Mastra writes the AI SDK's provider id as gen_ai.provider.name ("openai.responses"): mapped like the
Vercel AI SDK's.
"""

from __future__ import annotations

from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_str, loads
from traces.ingest.conventions.vercel_ai import from_ai_sdk, provider
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "mastra"

KINDS = {
    "agent_run": StepKind.AGENT,
    "model_generation": StepKind.CHAIN,
    "model_step": StepKind.CHAIN,
    "model_inference": StepKind.LLM,
    "model_chunk": StepKind.SPAN,
    "tool_call": StepKind.TOOL,
    "mcp_tool_call": StepKind.TOOL,
    "workflow_run": StepKind.CHAIN,
    "workflow_step": StepKind.CHAIN,
    "processor_run": StepKind.CHAIN,
    "memory_operation": StepKind.SPAN,
    "generic": StepKind.SPAN,
}

# resourceId: the owner of a memory thread, "a stable identifier for the user" in Mastra's docs.
_USER_KEYS = ("userId", "user_id", "resourceId")
_SESSION_KEYS = ("sessionId", "session_id", "threadId", "thread_id")
_METADATA = "mastra.metadata."


def matches(span: Span) -> bool:
    return "mastra.span.type" in span.attributes


def kind(attrs: dict[str, Any]) -> StepKind | None:
    value = attrs.get("mastra.span.type")
    return KINDS.get(value) if isinstance(value, str) else None


def extract(span: Span, d: Draft) -> None:
    attrs = d.attrs
    if d.provider is None and "gen_ai.provider.name" in attrs:
        # The AI SDK's id stays in attributes: it also says which API was called.
        d.provider = provider(attrs["gen_ai.provider.name"])
    _metadata(d)
    tags = loads(attrs.get("mastra.tags"))
    if isinstance(tags, list) and not d.tags:
        d.tags = [as_str(t) or str(t) for t in tags]
        del attrs["mastra.tags"]

    span_type = attrs.get("mastra.span.type")
    if span_type == "agent_run":
        if d.input is None and "mastra.agent_run.input" in attrs:
            found = _messages(attrs["mastra.agent_run.input"])
            if found is not None:
                del attrs["mastra.agent_run.input"]
                system = attrs.pop("gen_ai.system_instructions", None)
                d.input = m.with_system(found, m.system_message(system)) if system else found
        _output(d, "mastra.agent_run.output")
    elif span_type in ("model_generation", "model_step"):
        key = f"mastra.{span_type}.input"
        if d.input is None and key in attrs:
            value = loads(attrs[key])
            found = _messages(value["messages"] if isinstance(value, dict) and "messages" in value else value)
            if found is not None and (not isinstance(value, dict) or value.keys() == {"messages"}):
                d.input = found
                del attrs[key]
        _output(d, f"mastra.{span_type}.output")
    if isinstance(span_type, str):
        # Any other payload (model_chunk, processor_run, memory_operation, one not converted above):
        # parsed, as sent.
        d.fill_payload("input", f"mastra.{span_type}.input")
        d.fill_payload("output", f"mastra.{span_type}.output")


def _metadata(d: Draft) -> None:
    attrs = d.attrs
    for key in [k for k in attrs if k.startswith(_METADATA)]:
        name = key[len(_METADATA) :]
        value = attrs.pop(key)
        if name in _USER_KEYS and d.user_id is None and as_str(value) is not None:
            d.user_id = as_str(value)
        elif name in _SESSION_KEYS and d.session_id is None and as_str(value) is not None:
            d.session_id = as_str(value)
        else:
            d.metadata[name] = loads(value)


def _messages(value: Any) -> list[m.Message] | None:
    """A run's input: the user's text, or a message list (AI SDK shape)."""
    value = loads(value)
    if isinstance(value, str):
        return [m.message("user", [m.text(value)])] if value else None
    return from_ai_sdk(value)


# Keys of Mastra's output objects that the assistant message holds; others keep the attribute.
_OUTPUT_KEYS = frozenset({"text", "toolCalls", "files", "reasoning", "sources", "warnings"})


def _output(d: Draft, key: str) -> None:
    """{"text", "toolCalls"?, ...} as one assistant message: text and tool call parts."""
    if d.output is not None or key not in d.attrs:
        return
    value = loads(d.attrs[key])
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return
    parts: list[dict[str, Any]] = [m.text(value["text"])] if value["text"] else []
    for call in value.get("toolCalls") or ():
        if isinstance(call, dict):
            part = m.tool_call(call.get("toolCallId"), call.get("toolName"), call.get("args", call.get("input")))
            if "providerMetadata" in call:
                part["providerMetadata"] = call["providerMetadata"]  # the provider's ids, kept
            parts.append(part)
    d.output = [m.message("assistant", parts)]
    # The attribute goes only when the message holds all it said (empty files, warnings, ...).
    if value.keys() <= _OUTPUT_KEYS and not any(value.get(k) for k in ("files", "reasoning", "sources", "warnings")):
        del d.attrs[key]
