"""The project's ingest settings page, for project admins: redaction of spans and price overrides.

GET  /p/<slug>/settings/ingest/                              the page
POST /p/<slug>/settings/ingest/policy/                       save the redaction policy
POST /p/<slug>/settings/ingest/prices/add/                   price a model
POST /p/<slug>/settings/ingest/prices/<override_id>/delete/  remove a price

The project comes from the tenancy chokepoint through `project_view`: anyone without the admin
permission, and anyone from another tenant, gets 404 for every method. A form error (an invalid
pattern, a model priced already) answers 400 with the page and the message, and saves nothing; a
success redirects to the page. Deleting a price from htmx gets an empty answer that removes the row.
Changes apply to spans stored from then on: ingest reads the settings for every batch.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect

from agentops.pages import is_htmx, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces import selectors, services
from traces.forms import IngestPolicyForm, PriceOverrideForm
from traces.ingest.redact import unusable_patterns
from traces.services import IngestSettingsError


def _page(
    request: HttpRequest,
    project: Project,
    *,
    policy_form: IngestPolicyForm | None = None,
    price_form: PriceOverrideForm | None = None,
    status: int = 200,
) -> HttpResponse:
    policy = selectors.project_ingest_policy(project)
    context: dict[str, Any] = {
        "tab": "ingest",
        "has_policy": policy.pk is not None,
        "unusable_patterns": unusable_patterns(policy.custom_patterns),
        "policy_form": policy_form or IngestPolicyForm.for_policy(policy),
        "overrides": [(o, services.price_state(o)) for o in selectors.project_price_overrides(project)],
        "price_form": price_form or PriceOverrideForm(),
    }
    return render_project(request, project, "traces/settings_ingest.html", context, status=status)


@project_view(Perm.ADMIN_PROJECT)
def ingest_settings(request: HttpRequest, project: Project) -> HttpResponse:
    return _page(request, project)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def ingest_policy_save(request: HttpRequest, project: Project) -> HttpResponse:
    form = IngestPolicyForm(request.POST)
    if form.is_valid():
        try:
            services.ingest_policy_update(
                project=project,
                builtin=form.cleaned_data["builtin"],
                custom=form.cleaned_data["custom"],
                drop_content=form.cleaned_data["drop_content"],
                actor=request.user,
            )
        except IngestSettingsError as exc:
            form.add_error("custom", str(exc))
        else:
            messages.success(request, "Ingest policy saved. It applies to spans stored from now on.")
            return redirect("project_ingest_settings", slug=project.slug)
    return _page(request, project, policy_form=form, status=400)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def price_override_add(request: HttpRequest, project: Project) -> HttpResponse:
    form = PriceOverrideForm(request.POST)
    if form.is_valid():
        try:
            override = services.price_override_set(project=project, actor=request.user, **form.cleaned_data)
        except IngestSettingsError as exc:
            form.add_error("model", str(exc))
        else:
            messages.success(request, f"{override.model} is now priced with your prices, for spans stored from now on.")
            return redirect("project_ingest_settings", slug=project.slug)
    return _page(request, project, price_form=form, status=400)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def price_override_delete(request: HttpRequest, project: Project, override_id: int) -> HttpResponse:
    # Looked up within the project: another project's price is a 404.
    override = get_object_or_404(selectors.project_price_overrides(project), pk=override_id)
    services.price_override_delete(override=override, actor=request.user)
    if is_htmx(request):
        return HttpResponse("")
    messages.success(request, f"The price of {override.model} is removed: genai-prices prices it again, if it can.")
    return redirect("project_ingest_settings", slug=project.slug)
