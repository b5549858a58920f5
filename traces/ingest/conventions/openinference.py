"""OpenInference (Arize Phoenix): openinference.span.kind on every span, flattened message lists
(llm.input_messages.N.message.*), llm.token_count.*, llm.cost.*, input.value / output.value with their
mime types, tool.name / tool.id, session.id, user.id, tag.tags and a JSON `metadata` attribute."""

from __future__ import annotations

from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_str, loads
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "openinference"

KINDS = {
    "LLM": StepKind.LLM,
    "EMBEDDING": StepKind.EMBEDDING,
    "TOOL": StepKind.TOOL,
    "AGENT": StepKind.AGENT,
    "CHAIN": StepKind.CHAIN,
    "RETRIEVER": StepKind.RETRIEVER,
    "RERANKER": StepKind.RETRIEVER,
    "GUARDRAIL": StepKind.GUARDRAIL,
    "EVALUATOR": StepKind.SPAN,
    "PROMPT": StepKind.SPAN,
}

# OpenInference names the vendor (llm.system) and the host (llm.provider) apart; a hosted model is
# billed by its host, which OTel folds into one provider id.
_HOSTED = {
    ("azure", "openai"): "azure.ai.openai",
    ("aws", "anthropic"): "aws.bedrock",
    ("aws", "amazon"): "aws.bedrock",
    ("google", "vertexai"): "gcp.vertex_ai",
}


def matches(span: Span) -> bool:
    return "openinference.span.kind" in span.attributes


def kind(attrs: dict[str, Any]) -> StepKind | None:
    value = attrs.get("openinference.span.kind")
    return KINDS.get(value.upper()) if isinstance(value, str) else None


def extract(span: Span, d: Draft) -> None:
    d.fill_str("model", "llm.model_name", "embedding.model_name")
    if d.model is None:
        # A failed call has no response model; the requested one is in the invocation parameters,
        # which stay in attributes (they hold more than the model).
        parameters = loads(d.attrs.get("llm.invocation_parameters"))
        if isinstance(parameters, dict):
            d.model = as_str(parameters.get("model"))
    _provider(d)
    d.fill_int("input_tokens", "llm.token_count.prompt")
    d.fill_int("output_tokens", "llm.token_count.completion")
    d.fill_int("cache_read_tokens", "llm.token_count.prompt_details.cache_read")
    d.fill_int("cache_write_tokens", "llm.token_count.prompt_details.cache_write")
    d.fill_int("reasoning_tokens", "llm.token_count.completion_details.reasoning")
    d.fill_cost("llm.cost.total")
    d.fill_str("tool_name", "tool.name")
    d.fill_str("tool_call_id", "tool.id")
    d.fill_str("agent_name", "agent.name")
    d.fill_str("session_id", "session.id")
    d.fill_str("user_id", "user.id")
    _tags_and_metadata(d)

    if d.kind is StepKind.LLM:
        if d.input is None:
            d.input = _flattened(d, "llm.input_messages.")
        if d.output is None:
            d.output = _flattened(d, "llm.output_messages.")
        # Without flattened messages (hidden, or an older instrumentation), the request and response
        # bodies are all there is; they stay in attributes too, as they hold more than the messages.
        if d.input is None:
            d.input = m.from_openai(d.attrs.get("input.value"))
        if d.output is None:
            d.output = _response_messages(d.attrs.get("output.value"))
    else:
        sent = {name: d.attrs.get(name) for name in ("input.value", "output.value")}
        d.fill_payload("input", "input.value", "input.mime_type")
        d.fill_payload("output", "output.value", "output.mime_type")
        if d.kind is StepKind.TOOL:
            _tool_payloads(d, sent)
        else:
            _langchain_messages(d, sent)
        if d.kind is StepKind.AGENT and d.agent_name is None:
            _agent_name(span, d)


_SMOLAGENTS_SCOPE = "openinference.instrumentation.smolagents"


def _agent_name(span: Span, d: Draft) -> None:
    """The agent of an AGENT span that has no agent.name, from where its instrumentation puts it."""
    # CrewAI names the agent (its role) only in graph.node.id, which stays: it places the node in the
    # graph. Its span is named "<role>._execute_core".
    node = as_str(d.attrs.get("graph.node.id"))
    if node is not None:
        d.agent_name = node
    elif span.scope_name == _SMOLAGENTS_SCOPE:
        # smolagents names its run span "<agent name>.run" and sends the name nowhere else.
        d.agent_name = span.name.removesuffix(".run")


def _langchain_messages(d: Draft, sent: dict[str, Any]) -> None:
    """LangChain's messages in the payloads of its chain and agent spans, as message lists.

    A LangGraph state of messages, or dumped messages, become a message list: the replay shows it as a
    conversation, and the run's previews find the question and the answer. The payloads as sent stay in
    attributes, as they hold more (message ids, response metadata).
    """
    for name, key in (("input", "input.value"), ("output", "output.value")):
        converted = m.from_langchain(getattr(d, name))
        if converted is not None:
            setattr(d, name, converted)
            d.attrs[key] = sent[key]


# How frameworks record a tool's call: LlamaIndex and smolagents its Python arguments, LlamaIndex its
# ToolOutput, LangChain the ToolMessage it made of the result.
_CALL_KEYS = frozenset({"args", "kwargs", "sanitize_inputs_outputs"})
_TOOL_OUTPUT_KEYS = frozenset({"blocks", "tool_name", "raw_input", "raw_output", "is_error"})


def _tool_payloads(d: Draft, sent: dict[str, Any]) -> None:
    """A tool's arguments and result, where the instrumentation wraps them in the framework's call shapes.

    LlamaIndex sends {"kwargs": {...}} and smolagents {"args": [], "sanitize_inputs_outputs": ..., "kwargs":
    {...}} (as text): with no positional arguments the keyword ones are the tool's arguments, as the model
    sent them. LlamaIndex's result is a ToolOutput whose text block is a Python repr; its raw_output is
    the value the tool returned. LangChain's is a dumped ToolMessage: its content is the result, and it
    names the call it answers. The payloads as sent stay in attributes (the ToolMessage's status and
    artifact, the text the model was given).
    """
    call = loads(d.input)
    if (
        isinstance(call, dict)
        and set(call) <= _CALL_KEYS
        and isinstance(call.get("kwargs"), dict)
        and not call.get("args")
    ):
        d.input = call["kwargs"]
        d.attrs["input.value"] = sent["input.value"]
    result = d.output
    if isinstance(result, dict) and set(result) == _TOOL_OUTPUT_KEYS:
        d.output = result["raw_output"]
        d.attrs["output.value"] = sent["output.value"]
    elif isinstance(result, dict) and result.get("type") == "tool" and isinstance(result.get("data"), dict):
        message = result["data"]
        if "content" in message and "tool_call_id" in message:
            d.output = loads(message["content"])
            if d.tool_call_id is None:
                d.tool_call_id = as_str(message["tool_call_id"])
            d.attrs["output.value"] = sent["output.value"]


def _provider(d: Draft) -> None:
    if d.provider is not None:
        return
    system = as_str(d.attrs.get("llm.system"))
    host = as_str(d.attrs.get("llm.provider"))
    if host and system and (host.lower(), system.lower()) in _HOSTED:
        d.provider = _HOSTED[(host.lower(), system.lower())]  # both attributes stay: they say more
    else:
        d.fill_provider("llm.system", "llm.provider")


def _tags_and_metadata(d: Draft) -> None:
    tags = d.attrs.get("tag.tags")
    if isinstance(tags, list) and not d.tags:
        d.tags = [str(t) for t in tags]
        del d.attrs["tag.tags"]
    metadata = loads(d.attrs.get("metadata"))
    if isinstance(metadata, dict):
        d.metadata = {**metadata, **d.metadata}
        del d.attrs["metadata"]
        if d.agent_name is None:
            # LangChain names the agent (create_agent's name) that every run inside it belongs to in
            # its run metadata, which the instrumentation copies to every span: model, tool and chain.
            d.agent_name = as_str(metadata.get("lc_agent_name"))


_EMPTY_TEXT = m.text("")


def _flattened(d: Draft, prefix: str) -> list[m.Message] | None:
    groups = m.collect_indexed(d.attrs, prefix)
    if not groups:
        return None
    attrs = d.attrs
    out: list[m.Message] = []
    for _, fields in groups:
        used: list[str] = []

        def take(rest: str, fields: dict[str, str] = fields, used: list[str] = used) -> Any:
            key = fields.get(rest)
            if key is None:
                return None
            used.append(key)
            return attrs[key]

        role = attrs.get(fields["message.role"]) if "message.role" in fields else None
        if role is None or m.role(role) == role:
            take("message.role")  # else the role as sent stays in attributes: smolagents' "tool-call"
        content = take("message.content")
        call_id = take("message.tool_call_id")
        contents = [_content_part(part, take) for _, part in m.collect_indexed_fields(fields, "message.contents.")]
        # An empty text is what an assistant message that only calls tools carries (LlamaIndex writes
        # it as contents.0, LangChain as content): it says nothing, and would show as an empty turn.
        contents = [p for p in contents if p != _EMPTY_TEXT]
        parts: list[dict[str, Any]] = []
        if role == "tool" and call_id is not None:
            parts.append(m.tool_response(call_id, content))
        elif content not in (None, "") and not _repeats(content, contents):
            parts.append(m.text(content))
        parts.extend(contents)
        for _, call in m.collect_indexed_fields(fields, "message.tool_calls."):
            parts.append(
                m.tool_call(
                    take(call + "tool_call.id"),
                    take(call + "tool_call.function.name"),
                    take(call + "tool_call.function.arguments"),
                )
            )
        name = take("message.name")
        for key in used:
            del attrs[key]
        # A role and nothing else (LangChain's record of a call that failed before answering) is no
        # message: the step has no output rather than an empty assistant turn.
        if parts:
            out.append(m.message(role, parts, name=name))
    return out or None


def _repeats(content: Any, contents: list[dict[str, Any]]) -> bool:
    """Whether message.content only repeats the text parts of message.contents.

    The OpenAI Agents instrumentation writes an output message both ways: the parts, and their texts
    joined by newlines as a flat message.content "for consumers that don't read the multi-part form".
    Kept both, the answer would show twice; the parts say more (images, reasoning), so they win. A
    content that says something the parts do not is kept.
    """
    texts = [p["content"] for p in contents if p.get("type") == "text" and isinstance(p.get("content"), str)]
    return bool(texts) and content in ("\n".join(texts), "".join(texts))


def _content_part(prefix: str, take: Any) -> dict[str, Any]:
    kind = take(prefix + "message_content.type")
    value = take(prefix + "message_content.text")
    if kind == "reasoning":
        # Replayed or returned reasoning items (the OpenAI Agents instrumentation): a summary text
        # and/or the provider's encrypted content, which is not for display and stays in attributes
        # (an encrypted-only item is an empty reasoning part: the model did reason).
        return {"type": "reasoning", "content": value if value is not None else ""}
    if value is not None or kind == "text":
        return m.text(value)
    url = take(prefix + "message_content.image.image.url")
    if url is not None:
        return {"type": "uri", "modality": "image", "uri": url}
    return {"type": kind or "unknown"}


def _response_messages(value: Any) -> list[m.Message] | None:
    body = loads(value)
    if isinstance(body, dict) and isinstance(body.get("choices"), list):
        choices = [c for c in body["choices"] if isinstance(c, dict) and isinstance(c.get("message"), dict)]
        out = [m.openai_message({**c["message"], "finish_reason": c.get("finish_reason")}) for c in choices]
        return out or None
    return None
