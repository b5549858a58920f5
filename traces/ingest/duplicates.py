"""Two records of one model call, counted once.

Two instrumentations of one call each write a span: the Anthropic SDK's own `anthropic.messages.create`
beside OpenLLMetry's `anthropic.chat`, an OpenInference span beside an OTel GenAI one. Both are kept and
shown; the run must count the call's tokens and cost once. Two model-call steps record the same call when
they have the same trace, are siblings (same parent) or one is the other's parent, overlap in time, report
the same input and output tokens (some, or none when both failed), and name the same model (or one names none, or one is the other
with a date suffix, as request and response models differ). Siblings must come from two
instrumentation libraries (OTLP scopes): one library's two spans are two calls (parallel identical
requests), never a duplicate.

Of each group, the step that says most (messages, then cost reported, then the earliest, then the lowest
span id) keeps its usage; every other is marked `duplicate_of` it, with `usage_is_aggregate` set, so
that pricing, run totals, LLM-call counts and rollups leave it out, as they leave out an agent's sum.

Within one batch only: both records of a call end within milliseconds of each other, so a
BatchSpanProcessor exports them together unless a batch boundary falls between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from traces.ingest.steps import MODEL_CALL_KINDS, Step

# A dated or moving alias of a model: a request for `claude-3-5-sonnet-latest` is answered by
# `claude-3-5-sonnet-20241022`, and one instrumentation records the request's, another the answer's.
_VERSION_SUFFIX = re.compile(r"-(?:latest|\d{4}-\d{2}-\d{2}|\d{8})$")


def _model_family(model: str) -> str:
    return _VERSION_SUFFIX.sub("", model.lower().rsplit("/", 1)[-1])


def _same_model(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b or _model_family(a) == _model_family(b)


def _overlap(a: Step, b: Step) -> bool:
    # Strictly: one call ending as the next starts (sequential calls of one agent) is not an overlap.
    a_end = a.end_ns or a.start_ns
    b_end = b.end_ns or b.start_ns
    return a.start_ns < b_end and b.start_ns < a_end


def _related(a: Step, b: Step) -> bool:
    if (a.status == "error") != (b.status == "error"):
        return False
    if a.parent_span_id == b.span_id or b.parent_span_id == a.span_id:
        return True  # a model-call span around another with the same usage: one call (ADK 1.x's call_llm)
    # Siblings are two records of one call only when two instrumentations made them: one library's two
    # spans side by side are two calls, however alike.
    return a.parent_span_id == b.parent_span_id and a.scope != b.scope


def _says(step: Step) -> tuple[int, int, int, str]:
    # Sorted ascending: the first keeps its usage.
    has_messages = step.input is not None or step.output is not None
    return (not has_messages, step.reported_cost_usd is None, step.start_ns, step.span_id)


def mark_duplicate_calls(steps: Iterable[Step]) -> None:
    """Mark, in place, the second records of model calls recorded twice in this batch."""
    by_usage: dict[tuple[str, int | None, int | None], list[Step]] = {}
    for step in steps:
        if step.kind not in MODEL_CALL_KINDS or step.usage_is_aggregate:
            continue
        # A failed call reports no usage: its two records are matched by the rest (both failed).
        if step.input_tokens or step.output_tokens or step.status == "error":
            by_usage.setdefault((step.trace_id, step.input_tokens, step.output_tokens), []).append(step)
    for group in by_usage.values():
        if len(group) < 2:
            continue
        group.sort(key=_says)
        kept: list[Step] = []
        for step in group:
            original = next(
                (k for k in kept if _related(k, step) and _overlap(k, step) and _same_model(k.model, step.model)), None
            )
            if original is None:
                kept.append(step)
            else:
                step.duplicate_of = original.span_id
                step.usage_is_aggregate = True
