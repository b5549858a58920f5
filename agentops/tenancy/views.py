"""Tenancy pages: the project list, a project's overview, its admin settings, and personal API tokens.

Every project page gets its project from `access.project_access` through `project_view`, so another
tenant's project, or one the user lacks the permission for, answers 404 whatever the HTTP method.
State changes are POSTs with CSRF. A POST from htmx (HX-Request) gets the changed table row back; a
plain form post is redirected (or, on a form error, gets the page again with status 400).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from agentops.pages import is_htmx, project_view, render_project
from agentops.tenancy import selectors, services
from agentops.tenancy.audit_export import ExportError, ExportFilters, export_filters, filtered_events
from agentops.tenancy.forms import EmailAuthenticationForm, MemberAddForm, NameForm, RoleForm
from agentops.tenancy.models import Membership, Project, User
from agentops.tenancy.roles import ROLE_CHOICES, Perm
from agentops.tenancy.services import TenancyError

AUDIT_PAGE_SIZE = 50


class AuthenticatedRequest(HttpRequest):
    """The request of a view behind login_required: its user is a real User."""

    user: User


login = auth_views.LoginView.as_view(
    template_name="tenancy/login.html",
    authentication_form=EmailAuthenticationForm,
    redirect_authenticated_user=True,
)
# Django's LogoutView accepts POST only: a link or an <img> on another site cannot log anyone out.
logout = auth_views.LogoutView.as_view()


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    groups = selectors.group_by_organization(selectors.visible_projects(request.user))
    return render(request, "tenancy/home.html", {"groups": groups})


@project_view(Perm.VIEW_PROJECT)
def project(request: HttpRequest, project: Project) -> HttpResponse:
    return render_project(request, project, "tenancy/project.html", {"tab": "overview"})


# --- Members ------------------------------------------------------------------------------------


def _members_page(
    request: HttpRequest,
    project: Project,
    *,
    add_form: MemberAddForm | None = None,
    error_member: int | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "tab": "members",
        "members": list(selectors.project_members(project)),
        "add_form": add_form or MemberAddForm(project=project),
        "error_member": error_member,
        "error": error,
        "role_choices": ROLE_CHOICES,
    }
    return render_project(request, project, "tenancy/members.html", context, status=status)


def _member_row(
    request: HttpRequest, project: Project, membership: Membership, error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "m": membership,
        "error_member": membership.pk if error else None,
        "error": error,
        "role_choices": ROLE_CHOICES,
    }
    return render(request, "tenancy/_member_row.html", context, status=status)


def _member_error(request: HttpRequest, project: Project, membership: Membership, error: str) -> HttpResponse:
    if is_htmx(request):
        return _member_row(request, project, membership, error=error, status=400)
    return _members_page(request, project, error_member=membership.pk, error=error, status=400)


@project_view(Perm.ADMIN_PROJECT)
def members(request: HttpRequest, project: Project) -> HttpResponse:
    return _members_page(request, project)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def member_add(request: HttpRequest, project: Project) -> HttpResponse:
    form = MemberAddForm(request.POST, project=project)
    if form.is_valid():
        assert form.user is not None
        try:
            services.membership_grant(user=form.user, project=project, role=form.cleaned_role, actor=request.user)
        except TenancyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{form.user.email} is now {form.cleaned_role.label} of {project.name}.")
            return redirect("project_members", slug=project.slug)
    return _members_page(request, project, add_form=form, status=400)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def member_role(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(selectors.project_members(project), pk=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _member_error(request, project, membership, "Choose one of the roles.")
    try:
        membership = services.membership_grant(
            user=membership.user, project=project, role=form.cleaned_role, actor=request.user
        )
    except TenancyError as exc:
        return _member_error(request, project, membership, str(exc))
    if is_htmx(request):
        return _member_row(request, project, membership)
    messages.success(request, f"{membership.user.email} is now {form.cleaned_role.label}.")
    return redirect("project_members", slug=project.slug)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def member_remove(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(selectors.project_members(project), pk=membership_id)
    try:
        services.membership_revoke(membership=membership, actor=request.user)
    except TenancyError as exc:
        return _member_error(request, project, membership, str(exc))
    # An admin who removed themselves cannot see the members page any more.
    removed_self = membership.user_id == request.user.pk
    if is_htmx(request):
        response = HttpResponse("")
        if removed_self:
            response["HX-Redirect"] = reverse("home")
        return response
    messages.success(request, f"{membership.user.email} is no longer a member of {project.name}.")
    return redirect("home") if removed_self else redirect("project_members", slug=project.slug)


# --- Ingest keys --------------------------------------------------------------------------------


def _keys_page(request: HttpRequest, project: Project, form: NameForm | None = None, status: int = 200) -> HttpResponse:
    context = {"tab": "keys", "keys": list(selectors.project_ingest_keys(project)), "form": form or NameForm()}
    return render_project(request, project, "tenancy/keys.html", context, status=status)


@project_view(Perm.ADMIN_PROJECT)
def keys(request: HttpRequest, project: Project) -> HttpResponse:
    return _keys_page(request, project)


@never_cache
@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def key_create(request: HttpRequest, project: Project) -> HttpResponse:
    form = NameForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, project, form=form, status=400)
    minted = services.ingest_key_create(project=project, name=form.cleaned_data["name"], actor=request.user)
    # The secret exists only in this response: it is not stored, and no later page can show it.
    context = {"tab": "keys", "key": minted.key, "secret": minted.secret}
    return render_project(request, project, "tenancy/key_created.html", context)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def key_revoke(request: HttpRequest, project: Project, key_id: int) -> HttpResponse:
    key = get_object_or_404(selectors.project_ingest_keys(project), pk=key_id)
    key = services.ingest_key_revoke(key=key, actor=request.user)
    if is_htmx(request):
        return render(request, "tenancy/_key_row.html", {"project": project, "key": key})
    messages.success(request, f"Ingest key {key.prefix}… revoked: exporters using it now get 401.")
    return redirect("project_keys", slug=project.slug)


# --- Audit log ----------------------------------------------------------------------------------


@project_view(Perm.ADMIN_PROJECT)
def audit(request: HttpRequest, project: Project) -> HttpResponse:
    """The log, newest first, filtered by `since`/`until` like the export its download links point to."""
    try:
        filters = export_filters({"since": request.GET.get("since", ""), "until": request.GET.get("until", "")})
        error = ""
    except ExportError as exc:
        filters, error = ExportFilters(), str(exc)
    events = filtered_events(project, filters).order_by("-id")
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    kept = {k: request.GET[k] for k in ("since", "until") if request.GET.get(k) and not error}
    export = reverse("api_audit", kwargs={"slug": project.slug})
    context = {
        "tab": "audit",
        "page": page,
        "since": request.GET.get("since", ""),
        "until": request.GET.get("until", ""),
        "filter_error": error,
        "filter_query": urlencode(kept) + "&" if kept else "",
        "download_jsonl": f"{export}?{urlencode({**kept, 'format': 'jsonl'})}",
        "download_csv": f"{export}?{urlencode({**kept, 'format': 'csv'})}",
    }
    return render_project(request, project, "tenancy/audit.html", context)


# --- Personal API tokens ------------------------------------------------------------------------


def _tokens_page(request: AuthenticatedRequest, form: NameForm | None = None, status: int = 200) -> HttpResponse:
    context = {"tokens": list(selectors.user_api_tokens(request.user)), "form": form or NameForm()}
    return render(request, "tenancy/tokens.html", context, status=status)


@login_required
@require_GET
def tokens(request: AuthenticatedRequest) -> HttpResponse:
    return _tokens_page(request)


@never_cache
@login_required
@require_POST
def token_create(request: AuthenticatedRequest) -> HttpResponse:
    form = NameForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form=form, status=400)
    minted = services.api_token_create(user=request.user, name=form.cleaned_data["name"], actor=request.user)
    context = {"token": minted.token, "secret": minted.secret, "site_url": settings.SITE_URL}
    return render(request, "tenancy/token_created.html", context)


@login_required
@require_POST
def token_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    # Looked up among the caller's own tokens: another user's token id is a 404.
    token = get_object_or_404(selectors.user_api_tokens(request.user), pk=token_id)
    token = services.api_token_revoke(token=token, actor=request.user)
    if is_htmx(request):
        return render(request, "tenancy/_token_row.html", {"token": token})
    messages.success(request, f"API token {token.prefix}… revoked.")
    return redirect("account_tokens")
