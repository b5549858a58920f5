"""Reads behind the promotion pages: what a run or a step offers as a case before anyone saves it, and
which runs a run-list filter hands to the bulk promotion.

`suggestion(project, run, span_id)` is the form's starting point: the input exactly as `case_add` will
take it (agentops.goldens.sources, redacted with today's policy), an expected output prefilled from the
source's output (the text of its last message when it is a message list, else the value), and the
assertions the trace suggests: `no_error`, and `tools_called` with the tool names in the order the run
(or the step's subtree) called them. Only for callers with the payload permission: the view checks.

`runs_to_promote(project, filters, cap)` is the bulk preview and its confirmation: the newest `cap` runs
matching the filter, and how many match in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentops.goldens.sources import Source, source_of
from agentops.goldens.validation import GoldenError
from agentops.tenancy.models import Project
from traces import replay
from traces import selectors as trace_selectors
from traces.filters import RunFilters
from traces.ingest.redact import redact_value
from traces.ingest.steps import StepKind
from traces.models import Run, Step

DEFAULT_CAP = 50
MAX_CAP = 500
PREVIEW_ROWS = 20


@dataclass(frozen=True)
class Suggestion:
    source: Source | None  # None when the input cannot be taken: `input_error` says why
    input_error: str | None
    expected_output: Any
    assertions: list[dict[str, Any]] = field(default_factory=list)
    step: Step | None = None


def _text_of(value: Any) -> Any:
    """The text of a message list's last message (what a person compares an answer with), else `value`."""
    if not replay.is_messages(value) or not value:
        return value
    parts = value[-1].get("parts") or []
    texts = [
        str(p["content"])
        for p in parts
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("content"), str)
    ]
    return "\n".join(texts) if texts else value


def _output(project: Project, run: Run, step: Step | None) -> Any:
    """The source's output: the step's; for a run its root step's, else its last LLM step's."""
    if step is not None:
        return step.output
    if run.root_span_id is not None:
        root = trace_selectors.run_step(project, run.trace_id, run.root_span_id, payloads=True)
        if root is not None and root.output is not None:
            return root.output
    llm = trace_selectors.run_steps(project, run.trace_id, payloads=True).filter(kind=StepKind.LLM)
    last = llm.exclude(output__isnull=True).only("output").last()
    return last.output if last is not None else None


def _tools_called(project: Project, run: Run, span_id: int | None) -> list[str]:
    """Tool names in start order (as the replay numbers steps); under `span_id` (itself included) when given."""
    rows = list(
        trace_selectors.run_steps(project, run.trace_id, payloads=False).values_list(
            "span_id", "parent_span_id", "kind", "tool_name", "name"
        )
    )
    inside: set[int] | None = None
    if span_id is not None:
        inside = {span_id}
        # Rows are in start order: a child starts after its parent, so one pass finds the subtree; a
        # second catches children stored with an earlier clock than their parent.
        for _ in range(2):
            for span, parent, *_rest in rows:
                if parent in inside:
                    inside.add(span)
    return [
        tool_name or name
        for span, _parent, kind, tool_name, name in rows
        if kind == StepKind.TOOL and (inside is None or span in inside)
    ]


def suggested_assertions(tools: list[str]) -> list[dict[str, Any]]:
    suggested: list[dict[str, Any]] = [{"type": "no_error"}]
    if tools:
        suggested.append({"type": "tools_called", "tools": tools})
    return suggested


def suggestion(project: Project, run: Run, span_id: int | None) -> Suggestion:
    """What the promotion form starts from (see the module docstring). GoldenError when the step is not in
    the run; an input that cannot be taken is reported in `input_error`, not raised: the form asks for it."""
    step = None
    if span_id is not None:
        step = trace_selectors.run_step(project, run.trace_id, span_id, payloads=True)
        if step is None:
            raise GoldenError("source_span_id", "no step with this span id in that run")
    try:
        source: Source | None = source_of(project, run.trace_id, span_id, want_input=True, payloads=True)
        input_error = None
    except GoldenError as exc:
        source, input_error = None, exc.message
    policy = trace_selectors.load_ingest_config(project.pk).redaction
    output = None if policy.drop_content else redact_value(_output(project, run, step), policy)
    return Suggestion(
        source=source,
        input_error=input_error,
        expected_output=_text_of(output),
        assertions=suggested_assertions(_tools_called(project, run, span_id)),
        step=step,
    )


def runs_to_promote(project: Project, filters: RunFilters, cap: int) -> tuple[list[Run], int]:
    """The newest `cap` runs of `project` matching `filters`, and how many match in all."""
    matching = filters.apply(trace_selectors.project_runs(project).defer("resource", "tags"))
    runs = list(matching.order_by("-start_time", "-id")[:cap])
    total = len(runs) if len(runs) < cap else matching.order_by().count()
    return runs, total
