"""What the trace assertions look at, read from a stored run: `TraceFacts`.

The tool calls are the run's TOOL steps in start order (as the replay numbers them: start time, then span
id), each with its tool name (`tool_name`, else the step's name) and its arguments (the step's input,
parsed when an instrumentation sent it as JSON text). Steps, tool-call count, latency and cost are the
run's own aggregates (traces.models.Run), which ingest keeps right whatever order the spans arrive in.

Reads the tool steps' inputs: the scorer runs for the server, never for a caller who may not see payloads,
and nothing here is shown to anyone (reasons name tools, not arguments).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agentops.tenancy.models import Project
from traces.ingest.steps import StepKind
from traces.models import Run
from traces.selectors.replay import export_steps


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


def trace_facts(project: Project, run: Run) -> TraceFacts:
    """The facts of `run` (a run of `project`, which the caller resolved): one query for its steps."""
    rows = export_steps(project, run, payloads=True).values_list("kind", "name", "tool_name", "status", "input")
    calls: list[ToolCall] = []
    errors: list[str] = []
    for kind, name, tool_name, status, payload in rows:
        if kind == StepKind.TOOL:
            calls.append(ToolCall(tool_name or name, _arguments(payload)))
        if status == "error":
            errors.append(name)
    return TraceFacts(
        tool_calls=tuple(calls),
        steps=run.step_count,
        tool_call_count=run.tool_calls,
        latency_ms=run.duration_ms,
        cost_usd=float(run.cost_usd),
        unpriced_steps=run.unpriced_steps,
        error_steps=tuple(errors),
    )
