"""Google ADK's own span attributes (gcp.vertex.agent.*), as ADK 1.x writes them and ADK 2.x with
ADK_TELEMETRY_SCHEMA_VERSION_OPT_IN=1 (the "legacy" schema):
- call_llm spans: gcp.vertex.agent.llm_request (JSON: model, config.system_instruction, contents in
  google-genai's Content shape) and gcp.vertex.agent.llm_response (JSON: model_version, content,
  finish_reason, usage_metadata); usage is also in gen_ai.usage.*, which otel_genai reads;
- execute_tool spans: gcp.vertex.agent.tool_call_args and gcp.vertex.agent.tool_response (JSON);
- gcp.vertex.agent.session_id on call_llm spans.
ADK 2.x's default schema writes OTel GenAI names only (otel_genai reads them). Empty "{}" payloads (ADK
writes them on tool spans) are left in attributes.
"""

from __future__ import annotations

from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, as_str, has_key_prefix, loads
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "google_adk"

_PREFIX = "gcp.vertex.agent."
_REQUEST = "gcp.vertex.agent.llm_request"
_RESPONSE = "gcp.vertex.agent.llm_response"


def matches(span: Span) -> bool:
    attrs = span.attributes
    return _REQUEST in attrs or "gcp.vertex.agent.tool_call_args" in attrs


def kind(attrs: dict[str, Any]) -> StepKind | None:
    return None  # the gen_ai.* attributes on the same spans say it


def extract(span: Span, d: Draft) -> None:
    d.fill_str("session_id", "gcp.vertex.agent.session_id")
    if d.kind is StepKind.TOOL:
        _payload(d, "input", "gcp.vertex.agent.tool_call_args")
        _payload(d, "output", "gcp.vertex.agent.tool_response")
    elif has_key_prefix(d.attrs, _PREFIX):
        _llm(d)


def _payload(d: Draft, name: str, key: str) -> None:
    value = loads(d.attrs.get(key))
    if getattr(d, name) is None and value not in (None, {}):
        del d.attrs[key]
        setattr(d, name, value)


def _llm(d: Draft) -> None:
    request = loads(d.attrs.get(_REQUEST))
    if isinstance(request, dict) and d.input is None:
        found = m.from_gemini(request.get("contents"))
        config = request.get("config")
        instruction = config.get("system_instruction") if isinstance(config, dict) else None
        system = m.system_message(instruction) if instruction else None
        if found is not None or system is not None:
            # The request also holds the config (tools, labels): it stays in attributes.
            d.input = m.with_system(found, system)
    response = loads(d.attrs.get(_RESPONSE))
    if isinstance(response, dict) and d.output is None:
        found = m.from_gemini(response.get("content"))
        if found is not None:
            finish = as_str(response.get("finish_reason"))
            if finish is not None:
                found[-1]["finish_reason"] = finish
            # model_version is the response's model: left in attributes, so that the step's model is the
            # request's like its generate_content child's.
            d.output = found
