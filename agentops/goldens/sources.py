"""A case made from a stored run: what it takes from the run, and how the project's rules apply.

Redaction. Ingest stores payloads already redacted by the project's policy (traces.ingest.redact, applied
in traces.ingest.rows before the COPY), so a run's input is as redacted as the project asked when it
arrived. A case taken from it is redacted again with the policy of now: a rule added since (a new custom
pattern) covers the new case too. When the project now drops content, nothing is taken from its runs.

The input taken is the step's (with `source_span_id`), else the run's: its root step's input, else the
input of its first LLM step (the messages the agent's model received). Log-derived messages
(traces.presenters.with_logs) are not looked at.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from agentops.goldens.validation import GoldenError
from agentops.tenancy.models import Project
from traces import selectors as trace_selectors
from traces.ingest.redact import redact_value
from traces.ingest.steps import StepKind
from traces.models import Run, Step

_NO_INPUT = object()


@dataclass(frozen=True)
class Source:
    trace_id: uuid.UUID
    span_id: int | None
    agent: str
    bundle: str
    status: str
    at: datetime
    input: Any = _NO_INPUT  # only when asked for, and redacted


def _run_input(project: Project, trace_id: uuid.UUID, root_span_id: int | None) -> Any:
    if root_span_id is not None:
        root = trace_selectors.run_step(project, trace_id, root_span_id, payloads=True)
        if root is not None and root.input is not None:
            return root.input
    steps = trace_selectors.run_steps(project, trace_id, payloads=True).only("input")
    first_llm = steps.filter(kind=StepKind.LLM, input__isnull=False).first()
    return first_llm.input if first_llm else None


def source_of(
    project: Project, trace_id: uuid.UUID, span_id: int | None, *, want_input: bool, payloads: bool
) -> Source:
    """The run (and step) a case comes from, in `project`; its input when `want_input`. GoldenError
    naming source_trace_id / source_span_id / input when it cannot be had."""
    run = trace_selectors.project_run(project, trace_id)
    if run is None:
        raise GoldenError("source_trace_id", "no run with this trace id in this project")
    step: Step | None = None
    if span_id is not None:
        step = trace_selectors.run_step(project, run.trace_id, span_id, payloads=want_input and payloads)
        if step is None:
            raise GoldenError("source_span_id", "no step with this span id in that run")
    source = Source(
        trace_id=run.trace_id,
        span_id=span_id,
        agent=run.agent,
        bundle=run.bundle,
        status=run.status,
        at=step.start_time if step is not None else run.start_time,
    )
    if not want_input:
        return source
    if not payloads:
        raise GoldenError("input", "you may not see this run's payloads: give the input")
    policy = trace_selectors.load_ingest_config(project.pk).redaction
    if policy.drop_content:
        raise GoldenError("input", "this project stores no content of its runs: give the input")
    value = step.input if step is not None else _run_input(project, run.trace_id, run.root_span_id)
    if value is None:
        raise GoldenError("input", "the source has no stored input: give the input")
    return replace(source, input=redact_value(value, policy))


def sources_of_runs(project: Project, runs: list[Run]) -> dict[uuid.UUID, Source]:
    """The sources of many runs of `project`, each with its input taken as `source_of` takes a run's (its
    root step's, else its first LLM step's, redacted with today's policy), in two queries whatever their
    number; a run without an input to take is left out. Only for callers with the payload permission."""
    policy = trace_selectors.load_ingest_config(project.pk).redaction
    if policy.drop_content or not runs:
        return {}
    roots = {run.trace_id: run.root_span_id for run in runs if run.root_span_id is not None}
    inputs: dict[uuid.UUID, Any] = {}
    if roots:
        steps = Step.objects.filter(project=project, trace_id__in=list(roots), span_id__in=set(roots.values()))
        for trace_id, span_id, value in steps.filter(input__isnull=False).values_list("trace_id", "span_id", "input"):
            if roots.get(trace_id) == span_id and value is not None:
                inputs[trace_id] = value
    missing = [run.trace_id for run in runs if run.trace_id not in inputs]
    if missing:
        first_llm = (
            Step.objects.filter(project=project, trace_id__in=missing, kind=StepKind.LLM, input__isnull=False)
            .order_by("trace_id", "start_time", "span_id")
            .distinct("trace_id")
        )
        inputs |= {t: v for t, v in first_llm.values_list("trace_id", "input") if v is not None}
    return {
        run.trace_id: Source(
            trace_id=run.trace_id,
            span_id=None,
            agent=run.agent,
            bundle=run.bundle,
            status=run.status,
            at=run.start_time,
            input=redact_value(inputs[run.trace_id], policy),
        )
        for run in runs
        if run.trace_id in inputs
    }
