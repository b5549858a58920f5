"""Normalize decoded spans into steps: the pure middle of the ingest pipeline.

`normalize(span) -> Step | None` and `normalize_batch(spans) -> list[Step]`. No I/O, no database.

For each span:
1. drop it if a convention's rule says so (Logfire pending_span): the only case that yields None;
2. decide the kind from the attributes, in priority order (see `detect_kind`);
3. pick the primary convention by its distinctive marker (first match in CONVENTIONS), let it fill the
   draft, then let OTel GenAI fill what is still missing (a span may carry several conventions:
   OpenLLMetry, Logfire and OpenInference also write gen_ai.*), then the generic OTel attributes;
4. add the run context from the resource, and keep every attribute that was not promoted;
5. of a batch, mark the second records of model calls two instrumentations both recorded (duplicates).

A span no convention recognizes becomes a SPAN step (convention "generic") with all its attributes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from traces.ingest.conventions import (
    generic,
    google_adk,
    langfuse,
    logfire,
    mastra,
    mlflow,
    openinference,
    openllmetry,
    otel_genai,
    vercel_ai,
)
from traces.ingest.conventions.base import Draft, as_str, jsonable, jsonable_with_text
from traces.ingest.duplicates import mark_duplicate_calls
from traces.ingest.spans import Span
from traces.ingest.steps import MODEL_CALL_KINDS, Step, StepKind

# Primary convention: the first whose marker the span carries. Product SDKs first (their spans also
# carry gen_ai.*), OTel GenAI last.
CONVENTIONS = (langfuse, logfire, openinference, openllmetry, mlflow, google_adk, mastra, vercel_ai, otel_genai)
DROP_RULES = (logfire.drop,)
# Kind signals, strongest first (Langfuse's order): explicit product attributes (Langfuse, MLflow),
# OpenInference, the frameworks' own (Mastra, Vercel AI SDK), gen_ai.operation.name, OpenLLMetry.
KIND_SOURCES = (
    langfuse.kind, mlflow.kind, openinference.kind, mastra.kind, vercel_ai.kind, otel_genai.kind, openllmetry.kind,
)  # fmt: skip

_TOOL_SIGNALS = ("gen_ai.tool.name", "gen_ai.tool.call.id", "tool.name", "tool.id")
_MODEL_SIGNALS = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
_EMBEDDING_SIGNALS = ("embedding.model_name",)
_KIND_OVERRIDE = "agentops.step.kind"  # our own namespace: the approval SDK marks APPROVAL steps


def detect_kind(attrs: dict[str, Any]) -> StepKind:
    override = attrs.get(_KIND_OVERRIDE)
    if isinstance(override, str) and override.upper() in StepKind.__members__:
        return StepKind[override.upper()]
    for source in KIND_SOURCES:
        found = source(attrs)
        if found is not None:
            return found
    if any(key in attrs for key in _TOOL_SIGNALS):
        return StepKind.TOOL
    if any(key in attrs for key in _EMBEDDING_SIGNALS):
        return StepKind.EMBEDDING
    if any(key in attrs for key in _MODEL_SIGNALS):
        return StepKind.LLM
    return StepKind.SPAN


def normalize(span: Span) -> Step | None:
    return _normalize(span, _ResourceContext(span.resource))


def normalize_batch(spans: Iterable[Span]) -> list[Step]:
    steps: list[Step] = []
    contexts: dict[int, _ResourceContext] = {}
    for span in spans:
        # Spans of one ResourceSpans share one resource dict: convert it once.
        context = contexts.get(id(span.resource))
        if context is None:
            context = contexts[id(span.resource)] = _ResourceContext(span.resource)
        step = _normalize(span, context)
        if step is not None:
            steps.append(step)
    mark_duplicate_calls(steps)
    return steps


class _ResourceContext:
    __slots__ = ("attributes", "bundle_id", "environment", "service_name", "service_version")

    def __init__(self, resource: dict[str, Any]) -> None:
        self.attributes = jsonable(resource)
        self.service_name = as_str(resource.get("service.name"))
        self.service_version = as_str(resource.get("service.version"))
        self.bundle_id = as_str(resource.get("agentops.bundle.id"))
        self.environment = (
            as_str(resource.get("deployment.environment.name"))
            or as_str(resource.get("deployment.environment"))
            or as_str(resource.get("langfuse.environment"))
        )


def _normalize(span: Span, context: _ResourceContext) -> Step | None:
    for rule in DROP_RULES:
        if rule(span):
            return None
    primary = next((c for c in CONVENTIONS if c.matches(span)), None)
    draft = Draft(span, detect_kind(span.attributes), primary.NAME if primary else generic.NAME)
    if primary is not None:
        primary.extract(span, draft)
        if primary is not otel_genai and otel_genai.matches(span):
            otel_genai.extract(span, draft)
    generic.extract(span, draft)
    return _finish(span, draft, context)


def _finish(span: Span, d: Draft, context: _ResourceContext) -> Step:
    # Usage on anything but a model call is a sum over children (agent and chain spans): storage must
    # not add it to run totals, or the run counts its tokens twice.
    aggregate = d.usage_is_aggregate or (d.has_usage() and d.kind not in MODEL_CALL_KINDS)
    input_, input_json = jsonable_with_text(d.input)
    output, output_json = jsonable_with_text(d.output)
    attributes, attributes_json = jsonable_with_text(d.attrs)
    # Positional, in Step's field order, each line naming its field: with 37 keyword arguments the call
    # took 3.6 µs, positional 0.65 (every keyword is matched against the parameter names).
    return Step(
        span.trace_id.hex(),  # trace_id
        span.span_id.hex(),  # span_id
        span.parent_span_id.hex() if span.parent_span_id else None,  # parent_span_id
        span.name,  # name
        d.kind,  # kind
        span.start_time_unix_nano,  # start_ns
        span.end_time_unix_nano or None,  # end_ns
        d.status,  # type: ignore[arg-type]  # status
        d.error_type,  # error_type
        d.error_message,  # error_message
        d.model,  # model
        d.provider,  # provider
        d.input_tokens,  # input_tokens
        d.output_tokens,  # output_tokens
        d.cache_read_tokens,  # cache_read_tokens
        d.cache_write_tokens,  # cache_write_tokens
        d.reasoning_tokens,  # reasoning_tokens
        aggregate,  # usage_is_aggregate
        d.reported_cost_usd,  # reported_cost_usd
        d.tool_name,  # tool_name
        d.tool_call_id,  # tool_call_id
        input_,  # input
        output,  # output
        attributes,  # attributes
        [  # events
            {"name": e.name, "time_ns": e.time_unix_nano, "attributes": jsonable(e.attributes)} for e in span.events
        ],
        d.convention,  # convention
        context.service_name,  # service_name
        context.service_version,  # service_version
        d.agent_name,  # agent_name
        # On the resource as a rule; on a span when one process runs several bundles (agentops.evals
        # tags each eval attempt's root span: a process has one resource).
        as_str(span.attributes.get("agentops.bundle.id")) or context.bundle_id,  # bundle_id
        d.environment or context.environment,  # environment
        d.session_id,  # session_id
        d.user_id,  # user_id
        d.tags,  # tags
        jsonable(d.metadata),  # metadata
        [  # links
            {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(), "attributes": jsonable(link.attributes)}
            for link in span.links
        ],
        context.attributes,  # resource
        input_json,  # input_json
        output_json,  # output_json
        attributes_json,  # attributes_json
        d.agent_name_derived,  # agent_name_derived
        span.scope_name,  # scope
        # mark_duplicate_calls sets it, over the whole batch
        None,  # duplicate_of
    )
