"""The retention pages of a project, for its admins (anyone else, and another tenant, gets 404):

GET  /p/<slug>/settings/retention/            the policy (form), the pinned runs and past erasures
POST /p/<slug>/settings/retention/            save the policy (payload_days, step_days, run_days)
POST /p/<slug>/settings/retention/erasures/   erase an end user's runs (user_id, reason, confirm)
POST /p/<slug>/runs/<trace_id>/pin/           pin the run (or unpin it, with `unpin`), from its replay

Writes go through agentops.retention (audited); a bad value answers 400 with the page and its message.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from agentops.pages import project_view, render_project
from agentops.retention import erasure, pins, policy, selectors
from agentops.retention.errors import RetentionError
from agentops.retention.forms import ErasureForm, PolicyForm
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces.ids import trace_from_hex


def _page(
    request: HttpRequest,
    project: Project,
    *,
    policy_form: PolicyForm | None = None,
    erasure_form: ErasureForm | None = None,
    status: int = 200,
) -> HttpResponse:
    found = policy.retention_policy(project)
    context = {
        "tab": "retention",
        "policy_form": policy_form or PolicyForm(initial=policy.as_dict(found)),
        "erasure_form": erasure_form or ErasureForm(),
        "defaults": policy.defaults(),
        "pins": selectors.pins_of(project),
        "erasures": selectors.erasures_of(project),
    }
    return render_project(request, project, "retention/settings.html", context, status=status)


@project_view(Perm.ADMIN_PROJECT, methods=["GET", "POST"])
def retention_settings(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method != "POST":
        return _page(request, project)
    form = PolicyForm(request.POST)
    if form.is_valid():
        try:
            policy.retention_policy_update(project=project, data=form.cleaned_data, actor=request.user)
        except RetentionError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Retention saved. The daily job applies it to data already stored.")
            return redirect("retention_settings", slug=project.slug)
    return _page(request, project, policy_form=form, status=400)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def erasure_create(request: HttpRequest, project: Project) -> HttpResponse:
    form = ErasureForm(request.POST)
    if form.is_valid():
        try:
            done = erasure.erase_user(
                project=project,
                user_id=form.cleaned_data["user_id"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except RetentionError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request, f"Erased: {done.runs} runs, {done.steps} steps and {done.log_records} log records deleted."
            )
            return redirect("retention_settings", slug=project.slug)
    return _page(request, project, erasure_form=form, status=400)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def run_pin(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    trace = trace_from_hex(trace_id)  # the URL admits 32 hex characters only
    try:
        if "unpin" in request.POST:
            pins.pin_remove(project=project, trace_id=trace, actor=request.user)
            messages.success(request, "Unpinned: the run expires with the project's retention.")
        else:
            pins.pin_add(
                project=project, trace_id=trace, reason=request.POST.get("reason", "")[:500], actor=request.user
            )
            messages.success(request, "Pinned: retention keeps this run until it is unpinned.")
    except RetentionError:
        raise Http404("No such run") from None
    return redirect("run_replay", slug=project.slug, trace_id=trace.hex)
