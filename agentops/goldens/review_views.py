"""The review queue pages.

GET  /p/<slug>/golden-review/?state=&rule=&cursor=    the queue (pending by default), oldest first: each
                                                      item's run (name, agent, bundle, status, previews)
                                                      linked to its replay
GET  /p/<slug>/golden-review/<review_id>/             one item: the run's input and output, and the
                                                      accept form (expected output offered from the run)
POST /p/<slug>/golden-review/<review_id>/accept/      accept into the rule's set (one new version)
POST /p/<slug>/golden-review/<review_id>/discard/     discard

Every member reads the queue; the runs' inputs and outputs (previews included) only with the payload
permission. Deciding needs "manage golden sets" (Engineer and above). Another tenant, or a member without
the permission, gets 404 whatever the method; another project's item is 404. Plain forms, no script
needed: a decision redirects to the queue; a refused accept answers 400 with the item and the error
beside its field.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from agentops.goldens import review, review_selectors
from agentops.goldens.models import ReviewItem
from agentops.goldens.page_nav import GOLDENS_TAB
from agentops.goldens.rules_forms import AcceptForm
from agentops.goldens.validation import GoldenConflict, GoldenError
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

STATE_TABS = [*((s.value, s.label) for s in ReviewItem.State), ("all", "All")]


def _item(project: Project, review_id: int) -> ReviewItem:
    item = review_selectors.project_item(project, review_id)
    if item is None:
        raise Http404("No such review item")
    return item


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@project_view(Perm.VIEW_PROJECT)
def golden_review(request: HttpRequest, project: Project) -> HttpResponse:
    perms = project_perms(request, project)
    error, status = None, 200
    try:
        filters = review_selectors.parse_queue_filters(request.GET)
    except GoldenError as exc:
        error, status = f"{exc.field}: {exc.message}", 400
        filters = review_selectors.QueueFilters()
    items, cursor = review_selectors.queue_page(project, filters)
    runs = review_selectors.runs_by_trace(project, (i.trace_id for i in items))
    kept = {"rule": str(filters.rule)} if filters.rule is not None else {}
    state = filters.state or "all"
    context = {
        "rows": [{"item": i, "run": runs.get(i.trace_id)} for i in items],
        "payloads": Perm.VIEW_PAYLOADS in perms,
        "manage": Perm.MANAGE_GOLDENS in perms,
        "state": state,
        "state_tabs": [(value, label, urlencode({**kept, "state": value})) for value, label in STATE_TABS],
        "counts": review_selectors.queue_counts(project),
        "rules": list(review_selectors.project_rules(project).values_list("pk", "name")),
        "rule": filters.rule,
        "next_query": urlencode({**kept, "state": state, "cursor": cursor}) if cursor else None,
        "error": error,
    }
    return render_project(request, project, "goldens/review.html", GOLDENS_TAB | context, status=status)


def _detail(
    request: HttpRequest,
    project: Project,
    item: ReviewItem,
    form: AcceptForm | None = None,
    status: int = 200,
    error: str | None = None,
) -> HttpResponse:
    perms = project_perms(request, project)
    payloads = Perm.VIEW_PAYLOADS in perms
    run = review_selectors.runs_by_trace(project, [item.trace_id]).get(item.trace_id)
    run_input = run_output = None
    if payloads and run is not None:
        run_input = review_selectors.run_input(project, run)
        run_output = review_selectors.run_output(project, run)
    if form is None:
        form = AcceptForm(
            initial={"expected_output": _json(run_output) if run_output is not None else "", "as_json": True}
        )
    context = {
        "item": item,
        "run": run,
        "payloads": payloads,
        "manage": Perm.MANAGE_GOLDENS in perms and item.state == ReviewItem.State.PENDING,
        "run_input": _json(run_input) if run_input is not None else None,
        "run_output": _json(run_output) if run_output is not None else None,
        "form": form,
        "error": error,
    }
    return render_project(request, project, "goldens/review_item.html", GOLDENS_TAB | context, status=status)


@project_view(Perm.VIEW_PROJECT)
def golden_review_item(request: HttpRequest, project: Project, review_id: int) -> HttpResponse:
    return _detail(request, project, _item(project, review_id))


@project_view(Perm.MANAGE_GOLDENS, methods=["POST"])
def golden_review_accept(request: HttpRequest, project: Project, review_id: int) -> HttpResponse:
    item = _item(project, review_id)
    form = AcceptForm(request.POST)
    if form.is_valid():
        payloads = Perm.VIEW_PAYLOADS in project_perms(request, project)
        try:
            case = review.review_accept(item=item, user=request.user, data=form.case_data(), payloads=payloads)
        except GoldenConflict as exc:  # decided meanwhile: no form to correct
            return _detail(request, project, _item(project, review_id), status=409, error=exc.message)
        except GoldenError as exc:
            form.add_case_error(exc)
        else:
            messages.success(
                request, f"Added to {item.rule.golden_set.name} as case {case.case_key} (version {case.added_in})."
            )
            return redirect("golden_review", slug=project.slug)
    return _detail(request, project, _item(project, review_id), form, status=400)


@project_view(Perm.MANAGE_GOLDENS, methods=["POST"])
def golden_review_discard(request: HttpRequest, project: Project, review_id: int) -> HttpResponse:
    item = _item(project, review_id)
    try:
        review.review_discard(item=item, user=request.user)
    except GoldenError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Discarded.")
    return redirect("golden_review", slug=project.slug)
