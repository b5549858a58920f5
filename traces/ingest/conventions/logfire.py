"""Logfire / Pydantic AI: logfire.* attributes on every span, OTel GenAI names for the model calls
(read by the otel_genai filler), pydantic_ai.all_messages and final_result on agent runs,
gen_ai.aggregated_usage.* for the run's summed usage, operation.cost for a computed cost.

Logfire sends a `pending_span` when a span starts and the real span when it ends: pending spans are
dropped (`drop`). `logfire.json_schema` names the attributes that hold JSON text: they are parsed in
place, so the step keeps structured values instead of strings.
"""

from __future__ import annotations

import json
from typing import Any

from traces.ingest import messages as m
from traces.ingest.conventions.base import Draft, loads
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "logfire"


def matches(span: Span) -> bool:
    attrs = span.attributes
    return "logfire.span_type" in attrs or "logfire.msg" in attrs or "logfire.json_schema" in attrs


def drop(span: Span) -> bool:
    return span.attributes.get("logfire.span_type") == "pending_span"


def kind(attrs: dict[str, Any]) -> StepKind | None:
    return None  # Logfire's own attributes say nothing about the kind; gen_ai.operation.name does.


def extract(span: Span, d: Draft) -> None:
    attrs = d.attrs
    _parse_json_attributes(attrs)
    d.fill_cost("operation.cost")
    d.fill_str("agent_name", "gen_ai.agent.name", "agent_name")
    tags = attrs.get("logfire.tags")
    if isinstance(tags, list) and not d.tags:
        d.tags = [str(t) for t in tags]
        del attrs["logfire.tags"]
    if d.kind is StepKind.TOOL:
        d.fill_payload("input", "tool_arguments")  # Pydantic AI instrumentation version 1
        d.fill_payload("output", "tool_response")
    elif d.kind is StepKind.AGENT:
        # The input of an agent run is its whole conversation: what the UI replays.
        if d.input is None and "pydantic_ai.all_messages" in attrs:
            found = m.from_otel(attrs["pydantic_ai.all_messages"])
            if found is not None:
                del attrs["pydantic_ai.all_messages"]
                system = m.system_message(attrs.pop("gen_ai.system_instructions", None))
                d.input = m.with_system(found, system)
        d.fill_payload("output", "final_result")


def _parse_json_attributes(attrs: dict[str, Any]) -> None:
    schema = attrs.get("logfire.json_schema")
    if not isinstance(schema, str) or '"type"' not in schema:
        return
    try:
        properties = json.loads(schema).get("properties")
    except (ValueError, AttributeError):
        return
    if not isinstance(properties, dict):
        return
    for key, spec in properties.items():
        if isinstance(spec, dict) and spec.get("type") in ("object", "array") and key in attrs:
            attrs[key] = loads(attrs[key])
