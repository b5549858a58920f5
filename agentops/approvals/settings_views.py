"""The approval settings page of a project, for its admins.

GET  /p/<slug>/approvals/settings/   the default expiry of a request and the callback signing secret
POST /p/<slug>/approvals/settings/   `default_expires_in` (seconds) saves the expiry; `rotate` makes a
                                     new callback secret (the first one, when there is none yet)

Admins only (agentops.approvals.policy does the writes and audits them, without the secret); anyone
else, and another tenant, gets 404 whatever the method. A bad value answers 400 with the page and the
message, and saves nothing; a success redirects to the page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from agentops.approvals import policy
from agentops.approvals.services import MAX_EXPIRES_IN, MIN_EXPIRES_IN, ApprovalInvalid
from agentops.pages import project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm


class ExpiryForm(forms.Form):
    default_expires_in = forms.IntegerField(
        label="Default expiry (seconds)",
        min_value=MIN_EXPIRES_IN,
        max_value=MAX_EXPIRES_IN,
        help_text=f"How long a request waits when its agent gives no expires_in: {MIN_EXPIRES_IN} s to 30 days.",
    )


def _page(request: HttpRequest, project: Project, form: ExpiryForm | None = None, status: int = 200) -> HttpResponse:
    settings = policy.approval_settings(project)
    context = {
        "tab": "approval_settings",
        "form": form or ExpiryForm(initial={"default_expires_in": settings.default_expires_in}),
        "secret": settings.callback_secret,
    }
    return render_project(request, project, "approvals/approval_settings.html", context, status=status)


@project_view(Perm.ADMIN_PROJECT, methods=["GET", "POST"])
def approval_settings(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method != "POST":
        return _page(request, project)
    if "rotate" in request.POST:
        policy.callback_secret_rotate(project=project, actor=request.user)
        messages.success(request, "A new callback secret is in use: give it to your receivers.")
        return redirect("approval_settings", slug=project.slug)
    form = ExpiryForm(request.POST)
    if form.is_valid():
        try:
            policy.approval_settings_update(
                project=project, default_expires_in=form.cleaned_data["default_expires_in"], actor=request.user
            )
        except ApprovalInvalid as exc:
            form.add_error("default_expires_in", exc.message)
        else:
            messages.success(request, "Approval settings saved. They apply to requests made from now on.")
            return redirect("approval_settings", slug=project.slug)
    return _page(request, project, form, status=400)
