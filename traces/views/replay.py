"""Replay one run, compare two, export one as JSON.

GET /p/<slug>/runs/<trace_id>/                    the replay page: span tree, waterfall, step-through
                                                   player (?step=<n> opens at player position n)
GET /p/<slug>/runs/<trace_id>/steps/<span_id>/    the panel of one step (an HTML fragment, fetched by
                                                   the player when the step becomes current)
GET /p/<slug>/runs/<trace_id>/export.json         the run and its steps (with their log records) as a
                                                   JSON attachment
GET /p/<slug>/compare/?a=<trace_id>&b=<trace_id>  two runs side by side, first divergence marked

Every page goes through `project_view` (outsiders get 404). A run or step that is not in the project,
or an id that is not hex, is a 404 too. Callers without the "view payloads" permission get structure,
timing, tokens, cost and status only: payload columns are not even read for them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces import replay
from traces.ids import span_from_hex, span_hex, trace_from_hex
from traces.models import Run
from traces.presenters import log_dict, run_dict, step_dict, step_tree, with_logs
from traces.selectors import project_run
from traces.selectors import replay as selectors


def _payloads(request: HttpRequest, project: Project) -> bool:
    return Perm.VIEW_PAYLOADS in project_perms(request, project)


def _trace(text: str) -> uuid.UUID:
    try:
        return trace_from_hex(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc


def _run(project: Project, trace_id: str) -> Run:
    run = project_run(project, _trace(trace_id))
    if run is None:
        raise Http404("No such run in this project")
    return run


def _tree(project: Project, run: Run, *, error_messages: bool) -> list[dict[str, Any]]:
    steps = selectors.replay_steps(project, run)
    return step_tree([step_dict(s, payloads=False, error_messages=error_messages) for s in steps])


@project_view(Perm.VIEW_PROJECT)
def run_replay(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    run = _run(project, trace_id)
    payloads = _payloads(request, project)
    rows, order = replay.tree_rows(_tree(project, run, error_messages=payloads))
    try:
        current = min(max(int(request.GET.get("step", 0)), 0), max(len(order) - 1, 0))
    except ValueError:
        current = 0
    context = {
        "tab": "runs",
        "run": run,
        "info": run_dict(run, payloads=payloads),
        "tree": mark_safe(replay.tree_html(rows)),  # every value escaped by row_html
        "steps": order,
        "current": current,
        "first_error": replay.first_error(order),
        "figure": replay.waterfall_figure(order, run.start_time.isoformat()),
    }
    return render_project(request, project, "traces/replay/run.html", context)


def _with_payloads(project: Project, run: Run, order: list[dict[str, Any]], positions: list[int]) -> dict[int, Any]:
    """The steps at `positions` of the player order, as full dicts with their payloads and log records
    (whose messages stand in for an input or output a step has not: see presenters.with_logs)."""
    wanted = {span_from_hex(order[i]["span_id"]): i for i in positions}
    loaded = selectors.steps_with_payloads(project, run, wanted, events=True)
    logs = selectors.step_logs(project, run.trace_id, wanted, payloads=True)
    return {
        wanted[span]: with_logs(
            step_dict(step, payloads=True, full=True), [log_dict(r, payloads=True) for r in logs.get(span, [])]
        )
        for span, step in loaded.items()
    }


def _payload_context(project: Project, run: Run, order: list[dict[str, Any]], index: int) -> dict[str, Any]:
    full = _with_payloads(project, run, order, [*replay.context_span(order, index), index])
    step = full.get(index, {})
    output = step.get("output")
    # context_at reads payloads only at the positions context_span named, all of them loaded above.
    known = [full.get(i, s) for i, s in enumerate(order)]
    return {
        "full": step,
        "context_messages": replay.conversation(replay.context_at(known, index)),
        "output_messages": replay.conversation(output) if replay.is_messages(output) else None,
        "input_pretty": replay.pretty(step.get("input")),
        "output_pretty": replay.pretty(output),
        "attributes_pretty": replay.pretty(step.get("attributes") or {}),
        "exceptions": replay.exceptions(step.get("events")),
        "timeline": replay.event_timeline(step.get("events"), step.get("logs")),
        "derived_from_logs": step.get("derived_from_logs", []),
    }


@project_view(Perm.VIEW_PROJECT)
def run_step_panel(request: HttpRequest, project: Project, trace_id: str, span_id: str) -> HttpResponse:
    run = _run(project, trace_id)
    try:
        wanted = span_hex(span_from_hex(span_id))
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    payloads = _payloads(request, project)
    # The player's order, without the rows the page needs: tree_rows numbers steps the same way.
    order = [step for step, _ in replay.tree_order(_tree(project, run, error_messages=payloads))]
    index = next((i for i, s in enumerate(order) if s["span_id"] == wanted), None)
    if index is None:
        raise Http404("No such step in this run")
    context: dict[str, Any] = {
        "project": project,
        "run": run,
        "step": order[index],
        "index": index,
        "total": len(order),
        "payloads": payloads,
    }
    if payloads:
        context |= _payload_context(project, run, order, index)
    else:  # a log record's time and name only: its body and attributes are payload, and not read
        span = span_from_hex(span_id)
        records = selectors.step_logs(project, run.trace_id, [span], payloads=False).get(span, [])
        context["timeline"] = replay.event_timeline(None, [log_dict(r, payloads=False) for r in records])
    return render(request, "traces/replay/_step_panel.html", context)


@project_view(Perm.VIEW_PROJECT)
def run_export(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    run = _run(project, trace_id)
    payloads = _payloads(request, project)
    data = run_dict(run, payloads=payloads)
    logs = selectors.step_logs(project, run.trace_id, None, payloads=payloads)
    data["steps"] = [
        with_logs(
            step_dict(s, payloads=payloads, full=True),
            [log_dict(r, payloads=payloads) for r in logs.get(s.span_id, [])],
        )
        for s in selectors.export_steps(project, run, payloads=payloads)
    ]
    response = JsonResponse(data, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="run-{run.trace_id.hex}.json"'
    return response


def _compared(project: Project, trace_id: str, payloads: bool) -> tuple[Run, list[dict[str, Any]]]:
    run = _run(project, trace_id)
    steps = [step_dict(s, payloads=False, error_messages=payloads) for s in selectors.compare_steps(project, run)]
    if payloads:
        # Only tools' arguments and results take part in a compare (traces.replay.first_divergence).
        tools = {span_hex(span): pair for span, pair in selectors.tool_payloads(project, run).items()}
        for step in steps:
            if step["span_id"] in tools:
                step["input"], step["output"] = tools[step["span_id"]]
    return run, [s for s, _ in replay.tree_order(step_tree(steps))]


@project_view(Perm.VIEW_PROJECT)
def run_compare(request: HttpRequest, project: Project) -> HttpResponse:
    """Without both `a` and `b`, a form asking for them; with them, the two runs side by side."""
    a, b = request.GET.get("a", "").strip(), request.GET.get("b", "").strip()
    context: dict[str, Any] = {"tab": "runs", "a": a, "b": b, "recent": selectors.recent_runs(project)}
    if a and b:
        payloads = _payloads(request, project)
        run_a, steps_a = _compared(project, a, payloads)
        run_b, steps_b = _compared(project, b, payloads)
        divergence = replay.first_divergence(steps_a, steps_b, payloads=payloads)
        context |= {
            "run_a": run_a,
            "run_b": run_b,
            "pairs": replay.aligned(steps_a, steps_b),
            "divergence": divergence,
            "payloads": payloads,
        }
    return render_project(request, project, "traces/replay/compare.html", context)
