"""Shared building blocks of the project pages, used by every app's views.

`project_view` is where a page meets the tenancy chokepoint: it resolves the project (404 for another
tenant or a missing permission, whatever the method) before the view runs. `render_project` renders a
page of the project layout, whose tabs need the user's role and permissions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render

from agentops.tenancy import access, selectors
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
            project = access.project_for(request.user, slug, perm)
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            return view(request, project, **kwargs)

        return wrapper

    return decorator


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def render_project(
    request: HttpRequest, project: Project, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a page of the project layout: it needs the user's role and permissions for its tabs."""
    base = {
        "project": project,
        "role": selectors.user_role(request.user, project),
        "project_perms": {p.value for p in access.perms_on(request.user, project)},
        "site_url": settings.SITE_URL,
    }
    return render(request, template, base | context, status=status)
