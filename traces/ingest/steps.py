"""The normalized form of a span: what `normalize` produces and storage consumes.

One Step per span, whatever convention produced it. Inputs and outputs of LLM steps are canonical
messages (see messages.py); `attributes` keeps every span attribute that was not promoted to a field,
so nothing a user sent is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

Status = Literal["ok", "error", "unset"]


class StepKind(StrEnum):
    AGENT = "AGENT"
    LLM = "LLM"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    EMBEDDING = "EMBEDDING"
    CHAIN = "CHAIN"
    GUARDRAIL = "GUARDRAIL"
    APPROVAL = "APPROVAL"
    SPAN = "SPAN"


# Kinds whose token usage is the step's own. Usage reported on any other kind is a sum over its
# children (agent and chain spans) and must not be added into run totals.
MODEL_CALL_KINDS = frozenset({StepKind.LLM, StepKind.EMBEDDING})


@dataclass(slots=True)
class Step:
    # Not frozen, for speed (see traces.ingest.spans.Span): nothing changes a step after normalize.
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    parent_span_id: str | None
    name: str
    kind: StepKind
    start_ns: int
    end_ns: int | None  # None: the span has not ended
    status: Status
    error_type: str | None
    error_message: str | None
    model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    # True when the step's usage is not its own to count: a sum over its children (agent and chain
    # spans), or a second record of a model call that another step records too (see duplicate_of).
    usage_is_aggregate: bool
    reported_cost_usd: Decimal | None
    tool_name: str | None
    tool_call_id: str | None
    input: Any
    output: Any
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    convention: str
    service_name: str | None
    service_version: str | None
    agent_name: str | None
    bundle_id: str | None
    environment: str | None
    session_id: str | None
    user_id: str | None
    tags: list[str]
    metadata: dict[str, Any]
    # Beyond the contract's fields, so that nothing the sender wrote is dropped: span links, and the
    # resource the span came with (shared by every span of a request: store it once per run).
    links: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    # The JSON text of input, output and attributes when normalize already serialized them (to check
    # that they are JSON-able): storage uses it rather than serializing them twice. None: not at hand.
    input_json: str | None = None
    output_json: str | None = None
    attributes_json: str | None = None
    # The agent name was derived (an agent span's name, a workflow or graph node name), not sent as an
    # agent attribute: a run takes it only when no step names its agent outright.
    agent_name_derived: bool = False
    # The instrumentation library that made the span (its OTLP scope): two records of one call come from
    # two of them. Not stored on the step.
    scope: str = ""
    # The span id of the step that records the same model call (two instrumentations of one call): this
    # step stays visible, its usage is counted there (traces.ingest.duplicates).
    duplicate_of: str | None = None
