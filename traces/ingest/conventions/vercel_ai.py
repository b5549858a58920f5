"""Vercel AI SDK: the ai.* spans of AI SDK <= 6 (`experimental_telemetry`) and of AI SDK 7's
`LegacyOpenTelemetry` (@ai-sdk/otel), and the AI SDK's own attributes on AI SDK 7's OTel GenAI spans.

ai.* spans name their operation in `ai.operationId`: ai.generateText / ai.streamText (the agent loop:
AGENT, usage summed over its steps), ai.generateText.doGenerate / ai.streamText.doStream (one model
call: LLM), ai.toolCall (TOOL), ai.embed[Many] (CHAIN) and their doEmbed (EMBEDDING). They carry:
- model ai.response.model / ai.model.id; provider ai.model.provider, the SDK's provider id
  ("openai.responses", "anthropic.messages", "google.vertex.chat") mapped to an OTel provider name;
- usage ai.usage.inputTokens / outputTokens (AI SDK 4: promptTokens / completionTokens),
  cachedInputTokens, reasoningTokens and their inputTokenDetails.* / outputTokenDetails.* twins;
- tools ai.toolCall.name / id / args / result (JSON text);
- messages: ai.prompt (JSON {"system", "prompt" | "messages"}) and ai.response.text on the loop;
  ai.prompt.messages (the AI SDK's ModelMessage list) and ai.response.text / ai.response.toolCalls on
  a model call, converted to the one shape of traces/ingest/messages.py;
- the agent: ai.telemetry.functionId; user and session: there are no such fields, so the keys users
  give them in ai.telemetry.metadata.* (AI SDK <= 6) or ai.settings.context.* (AI SDK 7 runtimeContext):
  userId / sessionId (and snake_case spellings); every other key there becomes metadata.

AI SDK 7's `OpenTelemetry` integration writes OTel GenAI (read by otel_genai) plus its own
gen_ai.operation.name "agent_step" for each step span (CHAIN) and ai.settings.context.*.

Message parts keep the SDK's `providerOptions` (the provider's item ids, e.g. OpenAI's
{"openai": {"itemId": "fc_..."}}) as an extra key, and a tool result its tool's name ("name").
"""

from __future__ import annotations

from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_str, has_key_prefix, loads, normalize_provider
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "vercel_ai"

KINDS = {
    "ai.generateText": StepKind.AGENT,
    "ai.streamText": StepKind.AGENT,
    "ai.generateObject": StepKind.AGENT,
    "ai.streamObject": StepKind.AGENT,
    "ai.generateText.doGenerate": StepKind.LLM,
    "ai.streamText.doStream": StepKind.LLM,
    "ai.generateObject.doGenerate": StepKind.LLM,
    "ai.streamObject.doStream": StepKind.LLM,
    "ai.toolCall": StepKind.TOOL,
    "ai.embed": StepKind.CHAIN,
    "ai.embedMany": StepKind.CHAIN,
    "ai.embed.doEmbed": StepKind.EMBEDDING,
    "ai.embedMany.doEmbed": StepKind.EMBEDDING,
}
# gen_ai.operation.name values the AI SDK defines beyond OTel's (AI SDK 7 OpenTelemetry integration).
_OPERATIONS = {"agent_step": StepKind.CHAIN}

_METADATA_PREFIXES = ("ai.telemetry.metadata.", "ai.settings.context.")
_USER_KEYS = ("userId", "user_id", "user.id")
_SESSION_KEYS = ("sessionId", "session_id", "session.id", "conversationId", "threadId")

# The AI SDK's provider ids are "<provider>.<api>" ("openai.responses"); the head names the provider,
# spelled as normalize_provider knows it where the AI SDK spells it otherwise.
_PROVIDERS = {
    "amazon-bedrock": "aws.bedrock",
    "google.vertex": "gcp.vertex_ai",
    "google.generative-ai": "gcp.gemini",
    "azure-openai": "azure.ai.openai",
}

_USAGE = {
    # ai.usage.tokens: what an embedding call reports (its input).
    "input_tokens": ("ai.usage.inputTokens", "ai.usage.promptTokens", "ai.usage.tokens"),
    "output_tokens": ("ai.usage.outputTokens", "ai.usage.completionTokens"),
    "cache_read_tokens": ("ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.cachedInputTokens"),
    "cache_write_tokens": ("ai.usage.inputTokenDetails.cacheWriteTokens",),
    "reasoning_tokens": ("ai.usage.outputTokenDetails.reasoningTokens", "ai.usage.reasoningTokens"),
}


def matches(span: Span) -> bool:
    attrs = span.attributes
    return (
        "ai.operationId" in attrs
        or has_key_prefix(attrs, "ai.settings.context.")
        or has_key_prefix(attrs, "ai.telemetry.")
    )


def kind(attrs: dict[str, Any]) -> StepKind | None:
    operation = attrs.get("ai.operationId")
    if isinstance(operation, str):
        return KINDS.get(operation)
    operation = attrs.get("gen_ai.operation.name")
    return _OPERATIONS.get(operation) if isinstance(operation, str) else None


def provider(value: Any) -> str | None:
    """ "openai.responses" -> "openai", "google.vertex.chat" -> "gcp.vertex_ai", "mistral.chat" -> "mistral_ai"."""
    raw = as_str(value)
    if raw is None:
        return None
    for prefix, name in _PROVIDERS.items():
        if raw == prefix or raw.startswith(prefix + "."):
            return name
    return normalize_provider(raw.split(".", 1)[0])


def extract(span: Span, d: Draft) -> None:
    attrs = d.attrs
    d.fill_str("model", "ai.response.model", "ai.model.id")
    if d.provider is None and "ai.model.provider" in attrs:
        # The SDK's id stays in attributes: it also says which API was called (responses, chat).
        d.provider = provider(attrs["ai.model.provider"])
    for field, keys in _USAGE.items():
        d.fill_int(field, *keys)
    d.fill_str("agent_name", "ai.telemetry.functionId")
    _user_context(d)

    if d.kind is StepKind.TOOL:
        d.fill_str("tool_name", "ai.toolCall.name")
        d.fill_str("tool_call_id", "ai.toolCall.id")
        d.fill_payload("input", "ai.toolCall.args")
        d.fill_payload("output", "ai.toolCall.result")
    elif d.kind is StepKind.LLM:
        if d.input is None and "ai.prompt.messages" in attrs:
            found = from_ai_sdk(attrs["ai.prompt.messages"])
            if found is not None:
                d.input = found
                del attrs["ai.prompt.messages"]
        _response(d)
    elif d.kind is StepKind.AGENT:
        if d.input is None and "ai.prompt" in attrs:
            found = _from_prompt(attrs["ai.prompt"])
            if found is not None:
                d.input = found
                del attrs["ai.prompt"]
        _response(d, final=True)


def _user_context(d: Draft) -> None:
    attrs = d.attrs
    for prefix in _METADATA_PREFIXES:
        for key in [k for k in attrs if k.startswith(prefix)]:
            name = key[len(prefix) :]
            value = attrs.pop(key)
            if name in _USER_KEYS and d.user_id is None and as_str(value) is not None:
                d.user_id = as_str(value)
            elif name in _SESSION_KEYS and d.session_id is None and as_str(value) is not None:
                d.session_id = as_str(value)
            else:
                d.metadata[name] = value


def _response(d: Draft, *, final: bool = False) -> None:
    """ai.response.text and ai.response.toolCalls as one assistant message. On the agent loop (`final`)
    the text is the answer, and the tool calls listed beside it were made in earlier steps: the
    answer alone is the output, the calls stay in attributes."""
    if d.output is not None:
        return
    attrs = d.attrs
    text = attrs.get("ai.response.text")
    calls = loads(attrs.get("ai.response.toolCalls"))
    parts: list[dict[str, Any]] = []
    if isinstance(text, str) and text:
        parts.append(m.text(text))
    if not (final and parts) and isinstance(calls, list) and all(isinstance(c, dict) for c in calls):
        parts.extend(m.tool_call(c.get("toolCallId"), c.get("toolName"), _call_input(c)) for c in calls)
        if all(c.keys() <= _CALL_KEYS for c in calls):  # else it holds more than the parts: kept
            attrs.pop("ai.response.toolCalls", None)
    if not parts:
        return
    attrs.pop("ai.response.text", None)
    finish = as_str(attrs.get("ai.response.finishReason"))
    d.output = [m.message("assistant", parts, finish_reason=finish)]


_CALL_KEYS = frozenset({"toolCallId", "toolName", "input", "args", "type", "toolCallType"})


def _call_input(call: dict[str, Any]) -> Any:
    # AI SDK 5+: "input" (JSON text in AI SDK 6's response, an object in 7's); AI SDK 4: "args".
    return call["input"] if "input" in call else call.get("args")


def _from_prompt(value: Any) -> list[m.Message] | None:
    """ai.prompt: {"system"?: str, "prompt"?: str | messages, "messages"?: messages}."""
    prompt = loads(value)
    if not isinstance(prompt, dict):
        return None
    out: list[m.Message] = []
    system = prompt.get("system")
    if isinstance(system, str) and system:
        out.append(m.message("system", [m.text(system)]))
    for key in ("prompt", "messages"):
        item = prompt.get(key)
        if isinstance(item, str):
            out.append(m.message("user", [m.text(item)]))
        elif isinstance(item, list):
            converted = from_ai_sdk(item)
            if converted is None:
                return None
            out.extend(converted)
        elif item is not None:
            return None
    return out or None


def from_ai_sdk(value: Any) -> list[m.Message] | None:
    """The AI SDK's ModelMessage list (JSON text or parsed) in the one shape; None if not that shape.

    {"role", "content": str | [parts]} with parts text, reasoning, tool-call {toolCallId, toolName,
    input (AI SDK 4: args)}, tool-result {toolCallId, toolName, output: {"type": "json"|"text"|...,
    "value"} (AI SDK 4: result)}, image and file.
    """
    value = loads(value)
    if not isinstance(value, list) or not value:
        return None
    out: list[m.Message] = []
    for item in value:
        if not isinstance(item, dict) or "role" not in item:
            return None
        content = item.get("content")
        if isinstance(content, str):
            parts = [m.text(content)] if content else []
        elif isinstance(content, list):
            parts = [_part(p) for p in content]
        else:
            return None
        out.append(m.message(item["role"], parts))
    return out


def _part(part: Any) -> Any:
    if not isinstance(part, dict):
        return m.text(part) if isinstance(part, str) else part
    kind = part.get("type")
    out: dict[str, Any]
    if kind == "text":
        out = m.text(part.get("text"))
    elif kind == "reasoning":
        out = {"type": "reasoning", "content": part.get("text")}
    elif kind == "tool-call":
        out = m.tool_call(part.get("toolCallId"), part.get("toolName"), _call_input(part))
    elif kind == "tool-result":
        output = part["output"] if "output" in part else part.get("result")
        out = m.tool_response(part.get("toolCallId"), _tool_output(output))
        if part.get("toolName") is not None:
            out["name"] = part["toolName"]
    elif kind in ("image", "file"):
        data = part.get("image", part.get("data"))
        media = part.get("mediaType") or part.get("mimeType")
        modality = "image" if kind == "image" else None
        if isinstance(data, str) and data.startswith(("http://", "https://")):
            out = {"type": "uri", "modality": modality, "mime_type": media, "uri": data}
        else:
            out = {"type": "blob", "modality": modality, "mime_type": media, "content": data}
    else:
        return part  # a part this module does not know is kept as sent
    if "providerOptions" in part:
        # The provider's own ids for the part (OpenAI's item ids): kept, as the part's extra key.
        out["providerOptions"] = part["providerOptions"]
    return out


def _tool_output(output: Any) -> Any:
    """AI SDK 5+ wraps a tool's result: {"type": "json" | "text", "value"} is the value; an error
    ({"type": "error-text" | "error-json" | "execution-denied", ...}) stays wrapped, so it shows as one."""
    if isinstance(output, dict) and output.get("type") in ("json", "text") and "value" in output:
        return output["value"]
    return output
