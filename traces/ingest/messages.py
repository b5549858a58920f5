"""The one message shape every convention's LLM input and output is converted to.

It is the OTel GenAI JSON shape (semantic-conventions 1.37+):

    {"role": "system" | "user" | "assistant" | "tool", "parts": [...], "name"?: str, "finish_reason"?: str}

with parts
    {"type": "text", "content": str}
    {"type": "tool_call", "id": str | None, "name": str, "arguments": Any}
    {"type": "tool_call_response", "id": str | None, "response": Any}
    {"type": "reasoning", "content": str}
    {"type": "blob" | "file" | "uri", "modality"?: str, "mime_type"?: str, "content" | "file_id" | "uri": ...}

Choices made so that the UI can render every convention the same way:
- Tool call arguments are parsed when they are a JSON string (OpenAI sends text, OTel an object).
- A tool call response is under "response" (Pydantic AI writes "result").
- Roles are mapped to the four above where the meaning is clear (developer -> system, model -> assistant,
  function -> tool, human -> user, smolagents' tool-call -> assistant and tool-response -> tool); other
  roles are kept as sent.
- A part this module does not know is kept as sent (it still has a "type").
- Gemini Content parts ({"text"}, {"function_call"}, {"function_response"}) are converted the same way.
- Bedrock Converse content blocks (Strands Agents' span events: {"text": ...}, {"toolUse": {...}},
  {"toolResult": {...}}, {"reasoningContent": {...}}) carry no "type": they are converted like OpenAI's
  parts, and a block of another key gets that key as its type.
- A payload that is not a message list (Langfuse lets users send any JSON as a generation's input) is
  wrapped: one message with the given role and one text part holding the text, or for structured JSON
  its compact JSON text. The value itself is never dropped: `wrap` is only applied where a message list
  is required.
"""

from __future__ import annotations

import json
from operator import is_
from typing import Any

from traces.ingest.conventions.base import loads

Message = dict[str, Any]

_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "model": "assistant",
    "ai": "assistant",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
    # smolagents' own roles: the model's tool call written back as text, and the tool's result (its
    # "Observation:"), which it sends to the API as assistant and user messages.
    "tool-call": "assistant",
    "tool-response": "tool",
}


def role(value: Any) -> str:
    if not isinstance(value, str):
        return "user"
    return _ROLES.get(value.lower(), value)


def text(content: Any) -> dict[str, Any]:
    return {"type": "text", "content": content}


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": loads(arguments)}


def tool_response(call_id: Any, response: Any) -> dict[str, Any]:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def message(role_: Any, parts: list[dict[str, Any]], *, name: Any = None, finish_reason: Any = None) -> Message:
    out: Message = {"role": role(role_), "parts": parts}
    if name is not None:
        out["name"] = name
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    return out


def wrap(value: Any, role_: str) -> list[Message]:
    content = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return [message(role_, [text(content)])]


# --- OTel GenAI: gen_ai.input.messages / gen_ai.output.messages / gen_ai.system_instructions ---------


def from_otel(value: Any) -> list[Message] | None:
    """Messages in the OTel shape, from a JSON string or a structured AnyValue; None if not that shape.

    Items without "parts" but with "content" (OpenAI-shaped, as some emitters write) are converted.
    """
    value = loads(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        return None
    out: list[Message] = []
    for item in value:
        parts = item.get("parts")
        if not isinstance(parts, list):
            converted = from_openai(item)
            if converted is None:
                return None
            out.extend(converted)
            continue
        sent_role = item.get("role")
        new_role = role(sent_role)
        new_parts = [_otel_part(p) for p in parts]
        if new_role == sent_role and all(map(is_, new_parts, parts)):
            out.append(item)  # already in the one shape (as OTel emitters send it): no copy
            continue
        msg = dict(item)
        msg["role"] = new_role
        msg["parts"] = new_parts
        out.append(msg)
    return out


def _otel_part(part: Any) -> Any:
    if not isinstance(part, dict):
        return text(part) if isinstance(part, str) else part
    kind = part.get("type")
    if kind == "tool_call" and isinstance(part.get("arguments"), str):
        part = dict(part)
        part["arguments"] = loads(part["arguments"])
    elif kind == "tool_call_response" and "response" not in part and "result" in part:
        # Pydantic AI writes the tool's return value under "result".
        part = dict(part)
        part["response"] = part.pop("result")
    return part


def system_message(value: Any) -> Message | None:
    """gen_ai.system_instructions (a list of parts, or plain text) as a leading system message."""
    value = loads(value)
    if isinstance(value, str):
        return message("system", [text(value)]) if value else None
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and value:
        return message("system", [p if isinstance(p, dict) else text(p) for p in value])
    return None


def with_system(messages: list[Message] | None, system: Message | None) -> list[Message] | None:
    if system is None:
        return messages
    if messages and messages[0].get("role") == "system":
        return messages
    return [system, *(messages or [])]


# --- OpenAI chat shape (Langfuse payloads, OpenInference input.value, old OTel events) -------------


def from_openai(value: Any) -> list[Message] | None:
    """OpenAI chat messages (a list, one message, or a request body with "messages"); None otherwise."""
    value = loads(value)
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    out: list[Message] = []
    for item in value:
        if not isinstance(item, dict) or "role" not in item:
            return None
        out.append(openai_message(item))
    return out


def openai_message(item: dict[str, Any]) -> Message:
    role_ = role(item.get("role"))
    content = item.get("content")
    parts: list[dict[str, Any]] = []
    if role_ == "tool" and item.get("tool_call_id") is not None:
        parts.append(tool_response(item["tool_call_id"], content))
    elif isinstance(content, list):
        parts.extend(_openai_content_part(p) for p in content)
    elif content is not None and content != "":
        parts.append(text(content))
    reasoning = item.get("reasoning_content") or item.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.insert(0, {"type": "reasoning", "content": reasoning})
    for call in item.get("tool_calls") or ():
        if isinstance(call, dict):
            # OpenAI nests name and arguments under "function"; flattened emitters put them inline.
            nested = call.get("function")
            function: dict[str, Any] = nested if isinstance(nested, dict) else call
            parts.append(tool_call(call.get("id"), function.get("name"), function.get("arguments")))
    legacy_call = item.get("function_call")
    if isinstance(legacy_call, dict):
        parts.append(tool_call(None, legacy_call.get("name"), legacy_call.get("arguments")))
    return message(role_, parts, name=item.get("name"), finish_reason=item.get("finish_reason"))


def _openai_content_part(part: Any) -> Any:
    if isinstance(part, str):
        return text(part)
    if not isinstance(part, dict):
        return text(json.dumps(part, default=str))
    kind = part.get("type")
    if kind is None:
        return bedrock_part(part)
    if kind in ("text", "input_text", "output_text") and "text" in part:
        return text(part["text"])
    if kind == "image_url" and isinstance(part.get("image_url"), dict):
        return {"type": "uri", "modality": "image", "uri": part["image_url"].get("url")}
    if kind == "input_audio" and isinstance(part.get("input_audio"), dict):
        audio = part["input_audio"]
        return {
            "type": "blob",
            "modality": "audio",
            "mime_type": f"audio/{audio.get('format')}",
            "content": audio.get("data"),
        }
    if kind == "refusal" and "refusal" in part:
        return text(part["refusal"])
    return part


# --- Bedrock Converse content blocks (Strands Agents) ---------------------------------------------


def bedrock_part(block: dict[str, Any]) -> dict[str, Any]:
    """One Converse content block (a dict with one key naming its kind) as a part."""
    if "text" in block and len(block) == 1:
        return text(block["text"])
    use = block.get("toolUse")
    if isinstance(use, dict):
        return tool_call(use.get("toolUseId"), use.get("name"), use.get("input"))
    result = block.get("toolResult")
    if isinstance(result, dict):
        part = tool_response(result.get("toolUseId"), tool_result_content(result.get("content")))
        if result.get("status") == "error":
            part["status"] = "error"
        return part
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("reasoningText"), dict):
        return {"type": "reasoning", "content": reasoning["reasoningText"].get("text")}
    if len(block) == 1:
        # image, document, video, cachePoint, ...: kept as sent, named by its key so the UI can show it.
        ((key, value),) = block.items()
        return {"type": key, "content": value}
    return block


def tool_result_content(content: Any) -> Any:
    """A tool result's content blocks (Converse toolResult, Anthropic tool_result) as the tool's return
    value: the text (parsed when it is JSON), or the one JSON value. Anything else is returned as it is."""
    if not isinstance(content, list) or not content or not all(isinstance(b, dict) for b in content):
        return content
    if all(_is_text_block(b) for b in content):
        return loads("".join(b["text"] for b in content))
    if len(content) == 1 and content[0].keys() == {"json"}:
        return content[0]["json"]
    return content


def _is_text_block(block: dict[str, Any]) -> bool:
    """{"text": str} (Converse) or {"type": "text", "text": str} (the Anthropic Messages API)."""
    if not isinstance(block.get("text"), str):
        return False
    return len(block) == 1 or (len(block) == 2 and block.get("type") == "text")


# --- Gemini Content (google-genai types; Google ADK's gcp.vertex.agent.llm_request / llm_response) ----


def from_gemini(contents: Any) -> list[Message] | None:
    """[{"role": "user" | "model", "parts": [...]}] (or one Content) as messages; None if not that shape.

    Parts: {"text"} (with "thought": true a reasoning part), {"function_call": {id, name, args}},
    {"function_response": {id, name, response}}; another part is kept, typed by its first key.
    """
    contents = loads(contents)
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        return None
    out: list[Message] = []
    for content in contents:
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            return None
        parts = [_gemini_part(p) for p in content["parts"] if isinstance(p, dict)]
        # A function_response comes back under the user role: it is the tool's message.
        if parts and all(p["type"] == "tool_call_response" for p in parts):
            out.append(message("tool", parts))
        else:
            out.append(message(content.get("role") or "user", parts))
    return out


def _gemini_part(part: dict[str, Any]) -> dict[str, Any]:
    present = {k: v for k, v in part.items() if v is not None}
    if isinstance(present.get("text"), str):
        return {"type": "reasoning" if present.get("thought") else "text", "content": present["text"]}
    call = present.get("function_call")
    if isinstance(call, dict):
        return tool_call(call.get("id"), call.get("name"), call.get("args"))
    response = present.get("function_response")
    if isinstance(response, dict):
        return tool_response(response.get("id"), response.get("response"))
    if len(present) == 1:
        ((key, value),) = present.items()
        return {"type": key, "content": value}
    return {"type": "unknown", **present}


# --- LangChain messages (LangGraph state in OpenInference's input.value / output.value) -------------

# A LangChain message's type, as messages_to_dict writes it ("type") or as dumpd names its class.
_LANGCHAIN_TYPES = {
    "human": "user",
    "HumanMessage": "user",
    "HumanMessageChunk": "user",
    "ai": "assistant",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "system": "system",
    "SystemMessage": "system",
    "tool": "tool",
    "ToolMessage": "tool",
    "ToolMessageChunk": "tool",
}


# LangGraph's own bookkeeping in an agent's state (create_react_agent's step budget): not agent state.
_LANGGRAPH_BOOKKEEPING = frozenset({"remaining_steps", "is_last_step"})


def from_langchain(value: Any) -> list[Message] | None:
    """LangChain messages as a message list: a LangGraph state of messages ({"messages": [...]}, maybe
    with LangGraph's step budget), a list of dumped messages, or one dumped message.

    In a state, items may be OpenAI-shaped dicts (as users pass them in), messages_to_dict dumps
    ({"type": "ai", "data": {...}}) or dumpd dumps ({"lc": 1, "id": [..., "AIMessage"], "kwargs": {...}}),
    mixed; a bare list or value must be dumps. None when a state holds anything else (other keys are
    agent state the messages do not say) or when an item is not a message.
    """
    value = loads(value)
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        if set(value) - _LANGGRAPH_BOOKKEEPING != {"messages"}:
            return None
        items, dumps_only = value["messages"], False
    elif isinstance(value, list):
        items, dumps_only = value, True
    elif isinstance(value, dict):
        items, dumps_only = [value], True
    else:
        return None
    out: list[Message] = []
    for item in items:
        if dumps_only and isinstance(item, dict) and "role" in item:
            return None  # a list of role dicts is not LangChain's to claim
        converted = _langchain_message(item)
        if converted is None:
            return None
        out.append(converted)
    return out or None


def _langchain_message(item: Any) -> Message | None:
    if not isinstance(item, dict):
        return None
    if "role" in item:
        return openai_message(item)
    if item.get("lc") == 1 and isinstance(item.get("id"), list) and item["id"]:
        kind, data = item["id"][-1], item.get("kwargs")
    else:
        kind, data = item.get("type"), item.get("data")
    role_ = _LANGCHAIN_TYPES.get(kind) if isinstance(kind, str) else None
    if role_ is None or not isinstance(data, dict):
        return None
    calls = [
        # LangChain's own tool call: name and parsed args inline.
        {"id": c.get("id"), "name": c.get("name"), "arguments": c.get("args")}
        for c in data.get("tool_calls") or ()
        if isinstance(c, dict)
    ]
    return openai_message(
        {
            "role": role_,
            "content": data.get("content"),
            "tool_calls": calls,
            "tool_call_id": data.get("tool_call_id"),
            "name": data.get("name"),
        }
    )


# --- flattened indexed attributes (OpenInference llm.*_messages.N.*, OpenLLMetry gen_ai.prompt.N.*) --


def collect_indexed(attrs: dict[str, Any], prefix: str) -> list[tuple[int, dict[str, str]]]:
    """Group keys like `<prefix>3.message.role` by index: [(3, {"message.role": full_key, ...}), ...].

    Values are not read here: the caller pops the keys it understands and leaves the rest in place.
    """
    groups: dict[int, dict[str, str]] = {}
    cut = len(prefix)
    for key in attrs:
        if key.startswith(prefix):
            index, _, rest = key[cut:].partition(".")
            if index.isdigit() and rest:
                groups.setdefault(int(index), {})[rest] = key
    return sorted(groups.items())


def collect_indexed_fields(fields: dict[str, str], prefix: str) -> list[tuple[int, str]]:
    """Within one collected item, the sub-lists: [(0, "<prefix>0."), (1, "<prefix>1."), ...]."""
    indexes: set[int] = set()
    cut = len(prefix)
    for rest in fields:
        if rest.startswith(prefix):
            index, _, tail = rest[cut:].partition(".")
            if index.isdigit() and tail:
                indexes.add(int(index))
    return [(i, f"{prefix}{i}.") for i in sorted(indexes)]
