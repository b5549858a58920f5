"""Shared building blocks of the project pages, used by every app's views.

`project_view` is where a page meets the tenancy chokepoint: it resolves the project (404 for another
tenant or a missing permission, whatever the method) before the view runs, and marks the view as
declared for the tenancy guard (agentops.tenancy.guard). `render_project` renders a page of the project
layout, whose tabs need the user's role and permissions: those were looked up once, with the project,
and `project_perms` gives them to a view without asking the database again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render

from agentops.tenancy import access, guard
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

ProjectView = Callable[..., HttpResponse]


def project_view(perm: Perm, *, methods: Sequence[str] = ("GET",)) -> Callable[[ProjectView], ProjectView]:
    """Resolve `slug` through the tenancy chokepoint, then check the method; the view gets the project.

    The project is looked up before the method is checked so that an outsider gets 404 from every
    project URL, whatever method they try.
    """

    def decorator(view: ProjectView) -> ProjectView:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
            project = access.project_access(request, slug, perm).project
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            return view(request, project, **kwargs)

        return guard.mark_project_view(wrapper)

    return decorator


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def project_perms(request: HttpRequest, project: Project) -> frozenset[Perm]:
    """The user's permissions on the project of this page (memoized on the request)."""
    return access.request_access(request, project).perms


def render_project(
    request: HttpRequest, project: Project, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a page of the project layout: it needs the user's role and permissions for its tabs."""
    held = access.request_access(request, project)
    base = {
        "project": project,
        "role": held.role,
        "project_perms": {p.value for p in held.perms},
        "site_url": settings.SITE_URL,
    }
    return render(request, template, base | context, status=status)
