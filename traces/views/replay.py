"""Replay one run, compare two, export one as JSON.

GET /p/<slug>/runs/<trace_id>/                    the replay page: span tree, waterfall, step-through
                                                   player (?step=<n> opens at player position n)
GET /p/<slug>/runs/<trace_id>/steps/<span_id>/    the panel of one step (an HTML fragment, fetched by
                                                   the player when the step becomes current)
GET /p/<slug>/runs/<trace_id>/approvals/<id>/     the panel of one of the run's approval requests (an
                                                   APPROVAL step: see traces.approval_steps)
GET /p/<slug>/runs/<trace_id>/export.json         the run and its steps (with their log records), and its
                                                   approval requests, as a JSON attachment
GET /p/<slug>/compare/?a=<trace_id>&b=<trace_id>  two runs side by side, aligned by structure, first
                                                   divergence marked, differing tool payloads diffed

Every page goes through `project_view` (outsiders get 404). A run or step that is not in the project,
or an id that is not hex, is a 404 too. A run none of whose spans has arrived yet but with an approval
request tied to it (the agent waits on it inside a tool span, exported only when it ends) is shown with
that request alone: the reviewers' inbox links here. Callers without the "view payloads" permission get
structure, timing, tokens, cost and status only: payload columns are not even read for them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from agentops.approvals.models import ApprovalRequest
from agentops.approvals.presenters import approval_dict
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces import approval_steps, replay
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


def _run_and_approvals(project: Project, trace_id: str, *, full: bool = False) -> tuple[Run, list[ApprovalRequest]]:
    """The run and its approval requests. Without a stored run but with requests, an unsaved Run that
    starts at the first request: no span has arrived yet, and the page shows the requests alone."""
    trace = _trace(trace_id)
    run = project_run(project, trace)
    approvals = selectors.run_approvals(project, trace, full=full)
    if run is None:
        if not approvals:
            raise Http404("No such run in this project")
        run = Run(project=project, trace_id=trace, start_time=approvals[0].created_at)
    return run, approvals


def _approval_panel_url(project: Project, run: Run, approval: ApprovalRequest) -> str:
    kwargs = {"slug": project.slug, "trace_id": run.trace_id.hex, "approval_id": approval.pk}
    return reverse("run_approval_panel", kwargs=kwargs)


def _tree(
    project: Project, run: Run, approvals: list[ApprovalRequest], *, error_messages: bool
) -> list[dict[str, Any]]:
    steps = selectors.replay_steps(project, run) if run.pk is not None else []
    dicts = [step_dict(s, payloads=False, error_messages=error_messages) for s in steps]
    now = timezone.now()
    asked = [
        (a.created_at, approval_steps.approval_step(a, now=now, panel_url=_approval_panel_url(project, run, a)))
        for a in approvals
    ]
    root = span_hex(run.root_span_id)
    return step_tree(approval_steps.with_approvals(dicts, [s.start_time for s in steps], asked, root))


@project_view(Perm.VIEW_PROJECT)
def run_replay(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    run, approvals = _run_and_approvals(project, trace_id)
    payloads = _payloads(request, project)
    rows, order = replay.tree_rows(_tree(project, run, approvals, error_messages=payloads))
    try:
        current = min(max(int(request.GET.get("step", 0)), 0), max(len(order) - 1, 0))
    except ValueError:
        current = 0
    # ?span=<hex> opens at that step (a golden case links to the step it came from).
    span = request.GET.get("span", "").lower()
    current = next((i for i, s in enumerate(order) if span and s["span_id"] == span), current)
    context = {
        "tab": "runs",
        "run": run,
        "info": run_dict(run, payloads=payloads),
        "tree": mark_safe(replay.tree_html(rows)),  # every value escaped by row_html
        "steps": order,
        "current": current,
        "first_error": replay.first_error(order),
        "figure": replay.waterfall_figure(order, run.start_time.isoformat()),
        "spans_stored": run.pk is not None,
        "approvals": len(approvals),
        "approvals_waiting": sum(1 for a in approvals if a.state == ApprovalRequest.State.PENDING),
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


def _payload_context(
    project: Project, run: Run, order: list[dict[str, Any]], index: int, limit: int | None
) -> dict[str, Any]:
    full = _with_payloads(project, run, order, [*replay.context_span(order, index), index])
    step = full.get(index, {})
    output = step.get("output")
    # context_at reads payloads only at the positions context_span named, all of them loaded above.
    known = [full.get(i, s) for i, s in enumerate(order)]
    input_pretty, input_more = replay.clip(replay.pretty(step.get("input")), limit)
    output_pretty, output_more = replay.clip(replay.pretty(output), limit)
    attributes_pretty, attributes_more = replay.clip(replay.pretty(step.get("attributes") or {}), limit)
    return {
        "full": step,
        "context_messages": replay.conversation(replay.context_at(known, index), limit),
        "output_messages": replay.conversation(output, limit) if replay.is_messages(output) else None,
        "input_pretty": input_pretty,
        "input_more": input_more,
        "output_pretty": output_pretty,
        "output_more": output_more,
        "attributes_pretty": attributes_pretty,
        "attributes_more": attributes_more,
        "exceptions": replay.exceptions(step.get("events")),
        "timeline": replay.event_timeline(step.get("events"), step.get("logs")),
        "derived_from_logs": step.get("derived_from_logs", []),
    }


@project_view(Perm.VIEW_PROJECT)
def run_step_panel(request: HttpRequest, project: Project, trace_id: str, span_id: str) -> HttpResponse:
    run, approvals = _run_and_approvals(project, trace_id)
    try:
        wanted = span_hex(span_from_hex(span_id))
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    payloads = _payloads(request, project)
    # The player's order, without the rows the page needs: tree_rows numbers steps the same way.
    order = [step for step, _ in replay.tree_order(_tree(project, run, approvals, error_messages=payloads))]
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
        "manage_goldens": payloads and Perm.MANAGE_GOLDENS in project_perms(request, project),
    }
    if payloads:
        # Long values are cut; "show all" asks for this panel again with `full=1`.
        whole = request.GET.get("full") == "1"
        context |= _payload_context(project, run, order, index, None if whole else replay.SHOWN_CHARS)
        context["show_all_url"] = f"{request.path}?full=1"
    else:  # a log record's time and name only: its body and attributes are payload, and not read
        span = span_from_hex(span_id)
        records = selectors.step_logs(project, run.trace_id, [span], payloads=False).get(span, [])
        context["timeline"] = replay.event_timeline(None, [log_dict(r, payloads=False) for r in records])
    return render(request, "traces/replay/_step_panel.html", context)


@project_view(Perm.VIEW_PROJECT)
def run_approval_panel(request: HttpRequest, project: Project, trace_id: str, approval_id: str) -> HttpResponse:
    """The panel of an APPROVAL step: who asked, the state, every decision, how long the agent waited,
    and (with the payload permission) the arguments as asked beside those the agent was told to use."""
    run, approvals = _run_and_approvals(project, trace_id, full=True)
    approval = next((a for a in approvals if a.pk == int(approval_id)), None)
    if approval is None:
        raise Http404("No such approval request in this run")
    payloads = _payloads(request, project)
    order = [step for step, _ in replay.tree_order(_tree(project, run, approvals, error_messages=payloads))]
    index = next(i for i, s in enumerate(order) if s.get("approval_id") == approval.pk)
    step = order[index]
    asker = next((s for s in order if s["span_id"] == step["asked_by"]), None) if step["asked_by"] else None
    body = approval_dict(approval, payloads=payloads)
    context: dict[str, Any] = {
        "project": project,
        "run": run,
        "step": step,
        "index": index,
        "total": len(order),
        "approval": approval,
        "body": body,
        "asker": asker,
        "page_url": approval_steps.approval_page_url(project.slug, approval.pk),
        "payloads": payloads,
    }
    context["decisions"] = [
        {
            "reviewer": d.reviewer.email,
            "decision": d.decision,
            "comment": d.comment,
            "at": d.at,
            "edited": d.arguments is not None,
            "edit_pretty": replay.pretty(d.arguments) if payloads and d.arguments is not None else None,
        }
        for d in approval.decisions.all()
    ]
    if payloads:
        context["arguments_pretty"] = replay.pretty(approval.arguments)
        if body["edited"]:
            context["final_pretty"] = replay.pretty(approval.final_arguments)
    return render(request, "traces/replay/_approval_panel.html", context)


@project_view(Perm.VIEW_PROJECT)
def run_export(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    run, approvals = _run_and_approvals(project, trace_id, full=True)
    payloads = _payloads(request, project)
    data = run_dict(run, payloads=payloads)
    logs = selectors.step_logs(project, run.trace_id, None, payloads=payloads)
    steps = selectors.export_steps(project, run, payloads=payloads) if run.pk is not None else []
    data["steps"] = [
        with_logs(
            step_dict(s, payloads=payloads, full=True),
            [log_dict(r, payloads=payloads) for r in logs.get(s.span_id, [])],
        )
        for s in steps
    ]
    # Beside the steps, not among them: the steps are the spans as sent. Each names its step (span_id).
    data["approvals"] = [approval_dict(a, payloads=payloads) for a in approvals]
    response = JsonResponse(data, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="run-{run.trace_id.hex}.json"'
    return response


def _compared(project: Project, trace_id: str, payloads: bool) -> tuple[Run, list[dict[str, Any]]]:
    run = _run(project, trace_id)
    steps = [step_dict(s, payloads=False, error_messages=payloads) for s in selectors.compare_steps(project, run)]
    if payloads:
        # Only tools' arguments and results are diffed in a compare (traces.replay.compare_rows).
        tools = {span_hex(span): pair for span, pair in selectors.tool_payloads(project, run).items()}
        for step in steps:
            if step["span_id"] in tools:
                step["input"], step["output"] = tools[step["span_id"]]
    return run, [s for s, _ in replay.tree_order(step_tree(steps))]


@project_view(Perm.VIEW_PROJECT)
def run_compare(request: HttpRequest, project: Project) -> HttpResponse:
    """Without both `a` and `b`, a form asking for them; with them, the two runs side by side. A trace id
    that is not hex or not a run of this project answers 404 with the page itself (its navigation, the
    form, which id was not found), not a bare error page."""
    a, b = request.GET.get("a", "").strip(), request.GET.get("b", "").strip()
    context: dict[str, Any] = {"tab": "runs", "a": a, "b": b, "recent": selectors.recent_runs(project)}
    if not (a and b):
        return render_project(request, project, "traces/replay/compare.html", context)
    payloads = _payloads(request, project)
    compared = {}
    for side, trace_id in (("A", a), ("B", b)):
        try:
            compared[side] = _compared(project, trace_id, payloads)
        except Http404:
            # The id as typed, cut: it is echoed back, and a query string may be long.
            context["not_found"] = f"Run {side}: no run with trace id “{trace_id[:64]}” in this project."
            return render_project(request, project, "traces/replay/compare.html", context, status=404)
    (run_a, steps_a), (run_b, steps_b) = compared["A"], compared["B"]
    rows = replay.compare_rows(steps_a, steps_b, payloads=payloads)
    context |= {
        "run_a": run_a,
        "run_b": run_b,
        "rows": rows,
        "divergence": replay.first_divergence(rows),
        "first_differs": replay.first_payload_difference(rows),
        "differing": sum(1 for r in rows if r.differs),
        "payloads": payloads,
    }
    return render_project(request, project, "traces/replay/compare.html", context)
