"""Promotion of runs into golden sets, from the replay and from the run list.

GET  /p/<slug>/runs/<trace_id>/add-to-golden-set/                  the form for one run: its input (as
GET  /p/<slug>/runs/<trace_id>/steps/<span_id>/add-to-golden-set/  case_add takes it), the expected output
                                                                    prefilled from its output, suggested
                                                                    assertions (agentops.goldens.promote)
POST the same                                                       set (a set's name) or new_set (a name
                                                                    to create), expected_output (JSON, or
                                                                    text with expected_format=text),
                                                                    assertion (each kept suggestion),
                                                                    assertions (more, a JSON list), tags,
                                                                    notes; input only when none was found
GET  /p/<slug>/runs/add-to-golden-set/?<run-list filters>&cap=N    the bulk preview: how many runs match,
                                                                    the first of the newest N (default 50,
                                                                    at most 500) and which are in the set
POST the same                                                       set or new_set, assertion, assertions,
                                                                    tags, notes, cap and the filters:
                                                                    adds the runs as one new version

Plain forms and redirects: no script is needed. The bulk preview pins the filter's end (`to`) at the time
of the preview when it had none, so that the confirmation adds the runs the preview counted, not the
ones that arrived since.

Who may: "manage golden sets" and "view payloads" (the form shows inputs and outputs); anyone else,
outsiders included, gets 404, as for a run or step that is not in the project. A set created here and the
case added to it are one transaction: a refused case leaves no new set behind.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.utils import timezone

from agentops.goldens import forms, promote, selectors, services
from agentops.goldens.models import GoldenCase, GoldenSet
from agentops.goldens.validation import GoldenError
from agentops.goldens.views import set_url
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces import replay
from traces.filters import FilterError, parse_filters
from traces.ids import span_from_hex, span_hex, trace_from_hex
from traces.models import Run
from traces.selectors import project_run
from traces.views.runs import filter_params

# Parameters of the run list that are not filters: its paging and live polling, and this page's own.
NOT_FILTERS = frozenset(
    {"cursor", "after", "since", "shown", "live", "limit", "cap", "set", "new_set"}
    | {"csrfmiddlewaretoken", "assertion", "assertions", "tags", "notes"}
)


def _check_payloads(request: HttpRequest, project: Project) -> None:
    if Perm.VIEW_PAYLOADS not in project_perms(request, project):
        raise Http404("No such project")


def _run(project: Project, trace_id: str) -> Run:
    try:
        run = project_run(project, trace_from_hex(trace_id))
    except ValueError:
        run = None
    if run is None:
        raise Http404("No such run in this project")
    return run


def _target_set(project: Project, user: Any, post: QueryDict) -> GoldenSet:
    """The set chosen by name, or the one created by `new_set` (inside the caller's transaction)."""
    new_name = post.get("new_set", "").strip()
    if new_name:
        return services.golden_set_create(project=project, user=user, data={"name": new_name})
    found = selectors.project_set(project, post.get("set", ""))
    if found is None:
        raise GoldenError("set", "choose a golden set, or give the name of a new one")
    return found


def _set_names(project: Project) -> list[str]:
    return list(selectors.project_sets(project).values_list("name", flat=True))


@project_view(Perm.MANAGE_GOLDENS, methods=["GET", "POST"])
def promote_run(request: HttpRequest, project: Project, trace_id: str, span_id: str | None = None) -> HttpResponse:
    _check_payloads(request, project)
    run = _run(project, trace_id)
    span = span_from_hex(span_id) if span_id else None
    try:
        offer = promote.suggestion(project, run, span)
    except GoldenError:
        raise Http404("No such step in this run") from None
    expected, expected_text = forms.shown(offer.expected_output)
    suggested = [{"json": json.dumps(a), "spec": a, "checked": True} for a in offer.assertions]
    values: dict[str, Any] = {
        "set": request.GET.get("set", ""),
        "new_set": "",
        "expected_output": expected,
        "expected_text": expected_text,
        "assertions": "",
        "tags": "",
        "notes": "",
        "input": "",
        "input_text": False,
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        post = request.POST
        kept = set(post.getlist("assertion"))
        for s in suggested:
            s["checked"] = s["json"] in kept
        values |= {
            "set": post.get("set", ""),
            "new_set": post.get("new_set", ""),
            "expected_output": post.get("expected_output", ""),
            "expected_text": post.get("expected_format") == "text",
            "assertions": post.get("assertions", ""),
            "tags": post.get("tags", ""),
            "notes": post.get("notes", ""),
            "input": post.get("input", ""),
            "input_text": post.get("input_format") == "text",
        }
        try:
            data = {"source_trace_id": run.trace_id.hex, **forms.case_data(post, with_input=offer.source is None)}
            if span is not None:
                data["source_span_id"] = span_hex(span)
            with transaction.atomic():
                golden_set = _target_set(project, request.user, post)
                case = services.case_add(golden_set=golden_set, user=request.user, data=data, payloads=True)
        except GoldenError as exc:
            errors, status = forms.errors_of(exc), 409 if exc.field == "name" else 400
        else:
            what = "step" if span is not None else "run"
            messages.success(
                request, f"Added the {what} as case {case.case_key} of {golden_set.name} (version {case.added_in})."
            )
            return redirect(set_url(golden_set))
    context = {
        "tab": "runs",
        "run": run,
        "step": offer.step,
        "span_id": span_hex(span) if span is not None else None,
        "input_pretty": replay.pretty(offer.source.input) if offer.source is not None else None,
        "input_error": offer.input_error,
        "suggested": suggested,
        "set_names": _set_names(project),
        "values": values,
        "errors": errors,
    }
    return render_project(request, project, "goldens/promote_run.html", context, status=status)


def _filters_of(request: HttpRequest, params: QueryDict) -> tuple[QueryDict, Any]:
    """The run-list filters of `params`, with `to` pinned at now when absent (see the module docstring)."""
    kept = QueryDict(mutable=True)
    for key, values in params.lists():
        if key not in NOT_FILTERS and any(values):
            kept.setlist(key, [v for v in values if v])
    if "to" not in kept:
        kept["to"] = timezone.now().isoformat()
    return kept, parse_filters(kept, payloads=True)


def _in_set(golden_set: GoldenSet | None, runs: list[Run]) -> set[Any]:
    if golden_set is None or not runs:
        return set()
    cases = GoldenCase.objects.filter(
        golden_set=golden_set, removed_in__isnull=True, source_trace_id__in=[r.trace_id for r in runs]
    )
    return set(cases.values_list("source_trace_id", flat=True))


@project_view(Perm.MANAGE_GOLDENS, methods=["GET", "POST"])
def promote_runs(request: HttpRequest, project: Project) -> HttpResponse:
    _check_payloads(request, project)
    source = request.POST if request.method == "POST" else request.GET
    params = filter_params(request) if request.method == "GET" else source.copy()
    errors: dict[str, str] = {}
    status = 200
    try:
        filters_query, filters = _filters_of(request, params)
        cap = forms.cap(source.get("cap"), promote.DEFAULT_CAP, promote.MAX_CAP)
    except FilterError as exc:
        return _bulk_page(request, project, filter_error=str(exc), status=400)
    except GoldenError as exc:
        errors, status = forms.errors_of(exc), 400
        cap = promote.DEFAULT_CAP
    runs, total = promote.runs_to_promote(project, filters, cap)
    if request.method == "POST" and not errors:
        try:
            with transaction.atomic():
                golden_set = _target_set(project, request.user, source)
                data = {
                    "assertions": forms.assertions(source.getlist("assertion"), source.get("assertions", "")),
                    "tags": forms.tags(source.get("tags", "")),
                    "notes": source.get("notes", ""),
                }
                result = services.cases_add_runs(
                    golden_set=golden_set,
                    user=request.user,
                    trace_ids=[r.trace_id for r in runs],
                    data=data,
                    payloads=True,
                )
        except GoldenError as exc:
            errors, status = forms.errors_of(exc), 409 if exc.field == "name" else 400
        else:
            note = f"{result.skipped} already in the set"
            if result.without_input:
                note += f", {result.without_input} without an input to take"
            if result.added:
                messages.success(
                    request, f"Added {result.added} run(s) to {golden_set.name} as version {result.version}; {note}."
                )
            else:
                messages.info(request, f"No run added to {golden_set.name}: {note}.")
            return redirect(set_url(golden_set))
    chosen = selectors.project_set(project, source.get("set", "")) if source.get("set") else None
    present = _in_set(chosen, runs)
    context = {
        "runs_total": total,
        "cap": cap,
        "taken": len(runs),
        "rows": [{"run": r, "in_set": r.trace_id in present} for r in runs[: promote.PREVIEW_ROWS]],
        "more_rows": max(len(runs) - promote.PREVIEW_ROWS, 0),
        "in_set": len(present),
        "chosen": chosen,
        "filters": [(k, v) for k, values in filters_query.lists() for v in values],
        "filters_query": filters_query.urlencode(),
        "errors": errors,
        "values": source,
        "no_error_checked": request.method == "GET" or '{"type": "no_error"}' in source.getlist("assertion"),
    }
    return _bulk_page(request, project, context=context, status=status)


def _bulk_page(
    request: HttpRequest,
    project: Project,
    *,
    context: dict[str, Any] | None = None,
    filter_error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    base = {
        "tab": "runs",
        "set_names": _set_names(project),
        "filter_error": filter_error,
        "max_cap": promote.MAX_CAP,
    }
    return render_project(request, project, "goldens/promote_runs.html", base | (context or {}), status=status)
