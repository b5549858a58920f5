"""What the trace assertions look at, read from stored runs: `TraceFacts`.

The tool calls are a run's TOOL steps in start order (as the replay numbers them: start time, then span
id), each with its tool name (`tool_name`, else the step's name) and its arguments (the step's input,
parsed when an instrumentation sent it as JSON text). Steps, tool-call count, latency and cost are the
run's own aggregates (traces.models.Run), which ingest keeps right whatever order the spans arrive in.

`facts_of_runs` reads the facts of many runs at once: scoring an eval run of a thousand cases costs one
query per TRACE_IDS_PER_QUERY runs, not one per case. Only the rows the facts need are read (tool steps
and failed steps), each with its run's window (start to end) as the replay bounds it.

Reads the tool steps' inputs: the scorer runs for the server, never for a caller who may not see payloads,
and nothing here is shown to anyone (reasons name tools, not arguments).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from agentops.tenancy.models import Project
from traces.ingest.steps import StepKind
from traces.models import Run, Step

# Bounds the IN list of one query (and the rows it returns) while keeping the count of queries small.
TRACE_IDS_PER_QUERY = 1000


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Any = None


@dataclass(frozen=True)
class TraceFacts:
    tool_calls: tuple[ToolCall, ...] = ()
    steps: int = 0
    tool_call_count: int = 0
    latency_ms: float | None = None  # None: the run has not finished
    cost_usd: float = 0.0
    unpriced_steps: int = 0  # steps whose cost is unknown: cost_usd is then a lower bound
    error_steps: tuple[str, ...] = field(default=())  # names of the steps that failed


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _in_window(run: Run, start: Any) -> bool:
    return start >= run.start_time and (run.end_time is None or start <= run.end_time)


def _step_rows(project: Project, runs: list[Run]) -> Iterable[tuple[Any, ...]]:
    """(trace_id, start_time, kind, name, tool_name, status, input) of the runs' tool and failed steps,
    in (trace, start time, span id) order: one query. The time bounds span all the runs' windows, so
    Postgres reads only the partitions they cover; each row is kept only within its own run's window."""
    earliest = min(r.start_time for r in runs)
    ends = [r.end_time for r in runs]
    steps = Step.objects.filter(
        Q(kind=StepKind.TOOL) | Q(status="error"),
        project=project,
        trace_id__in=[r.trace_id for r in runs],
        start_time__gte=earliest,
    )
    if all(end is not None for end in ends):
        steps = steps.filter(start_time__lte=max(e for e in ends if e is not None))
    # Calls that started in the same microsecond: the one that ended first came first, near enough.
    return steps.order_by("trace_id", "start_time", "end_time", "span_id").values_list(
        "trace_id", "start_time", "kind", "name", "tool_name", "status", "input"
    )


def facts_of_runs(project: Project, runs: Iterable[Run]) -> dict[uuid.UUID, TraceFacts]:
    """The facts of each of `runs` (runs of `project`, which the caller resolved), by trace id."""
    by_trace = {run.trace_id: run for run in runs}
    calls: dict[uuid.UUID, list[ToolCall]] = {t: [] for t in by_trace}
    errors: dict[uuid.UUID, list[str]] = {t: [] for t in by_trace}
    ordered = list(by_trace.values())
    for i in range(0, len(ordered), TRACE_IDS_PER_QUERY):
        for trace_id, start, kind, name, tool_name, status, payload in _step_rows(
            project, ordered[i : i + TRACE_IDS_PER_QUERY]
        ):
            if not _in_window(by_trace[trace_id], start):
                continue
            if kind == StepKind.TOOL:
                calls[trace_id].append(ToolCall(tool_name or name, _arguments(payload)))
            if status == "error":
                errors[trace_id].append(name)
    return {
        trace_id: TraceFacts(
            tool_calls=tuple(calls[trace_id]),
            steps=run.step_count,
            tool_call_count=run.tool_calls,
            latency_ms=run.duration_ms,
            cost_usd=float(run.cost_usd),
            unpriced_steps=run.unpriced_steps,
            error_steps=tuple(errors[trace_id]),
        )
        for trace_id, run in by_trace.items()
    }


def trace_facts(project: Project, run: Run) -> TraceFacts:
    """The facts of one run: one query for its steps."""
    return facts_of_runs(project, [run])[run.trace_id]
