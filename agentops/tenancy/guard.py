"""The tenancy guard: a project-scoped URL whose view did not declare the chokepoint is refused.

A URL is project-scoped when it captures `slug`, or lies under /p/... or /api/v1/projects/<...>/.
Its view declares tenancy in one of three ways, and no other:

- `agentops.pages.project_view` (pages),
- a subclass of `agentops.tenancy.endpoints.ProjectAPIView` (API views),
- `dangerously_skip_tenancy(reason)`, the one way around, named so that it is found by grep and review.

The guard runs twice. At startup, the system check `agentops.tenancy.E001` (see `checks.py`) walks the
URL resolver, so `agentops check`, `agentops up` and the web process (agentops.wsgi) refuse to start. At run time, the middleware
refuses such a view before it runs (404 in production, ImproperlyConfigured in DEBUG so the developer
sees why), and refuses a successful answer of a declared view that never resolved its project through
`access.project_access` (say, a ProjectAPIView whose `initial` forgot `super()`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.urls import URLPattern, URLResolver

from agentops.tenancy import access

log = logging.getLogger("agentops.tenancy")

# The attribute a declared view carries; functools.wraps copies it through outer decorators.
MARK = "agentops_tenancy"
PROJECT_VIEW = "project_view"
SKIP_PREFIX = "dangerously_skip_tenancy: "

F = TypeVar("F", bound=Callable[..., Any])


def mark_project_view(view: F) -> F:
    setattr(view, MARK, PROJECT_VIEW)
    return view


def dangerously_skip_tenancy(reason: str) -> Callable[[F], F]:
    """Let a project-scoped URL's view run without the chokepoint. Say why in `reason`: it is logged
    and reviewed. The view then answers for its own tenancy."""
    if not reason.strip():
        raise ImproperlyConfigured("dangerously_skip_tenancy needs a reason")

    def decorator(view: F) -> F:
        setattr(view, MARK, SKIP_PREFIX + reason)
        return view

    return decorator


def declaration(view: Callable[..., Any]) -> str | None:
    """How `view` declares its tenancy: "project_view", "ProjectAPIView", "dangerously_skip_tenancy: ..."
    or None when it does not."""
    from agentops.tenancy.endpoints import ProjectAPIView  # endpoints imports DRF; keep the guard light

    view_class = getattr(view, "view_class", None)
    if isinstance(view_class, type) and issubclass(view_class, ProjectAPIView):
        return "ProjectAPIView"
    mark = getattr(view, MARK, None)
    return mark if isinstance(mark, str) else None


def is_skipped(mark: str | None) -> bool:
    return mark is not None and mark.startswith(SKIP_PREFIX)


_CAPTURE = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")


def captures(route: str) -> set[str]:
    return {a or b for a, b in _CAPTURE.findall(route)}


def is_project_scoped(route: str) -> bool:
    """Whether a URL route (a path() or re_path() pattern, include prefixes joined) acts on a project."""
    names = captures(route)
    bare = route.lstrip("^")
    return "slug" in names or bare.startswith("p/") or (bare.startswith("api/v1/projects/") and bool(names))


def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """Every URL pattern with its full route (include prefixes joined)."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def undeclared_views(patterns: list[Any]) -> list[tuple[str, str]]:
    """(route, view name) of each project-scoped URL whose view does not declare its tenancy."""
    return [
        (route, entry.lookup_str)
        for route, entry in walk(patterns)
        if is_project_scoped(route) and declaration(entry.callback) is None
    ]


def _name(view: Callable[..., Any]) -> str:
    return f"{view.__module__}.{getattr(view, '__qualname__', view.__class__.__name__)}"


def _refuse(request: HttpRequest, message: str) -> HttpResponse:
    log.error(message, extra={"event": "tenancy.refused", "path": request.path})
    if settings.DEBUG:
        raise ImproperlyConfigured(message)
    # Fail closed, and look like any other missing project: nothing is confirmed to exist.
    return HttpResponseNotFound(b"Not found")


class TenancyGuardMiddleware:
    """Refuses project-scoped views that did not declare (process_view) or pass (on the response)
    the tenancy chokepoint. Goes after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        # Only content is checked: a login redirect or an error comes before any project is resolved.
        if match is None or not is_project_scoped(match.route) or not 200 <= response.status_code < 300:
            return response
        mark = declaration(match.func)
        if mark is None or is_skipped(mark) or access.was_resolved(request):
            return response
        return _refuse(
            request,
            f"{_name(match.func)} answered {response.status_code} for the project-scoped URL {match.route!r} "
            "without resolving its project through agentops.tenancy.access.project_access",
        )

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or not is_project_scoped(match.route) or declaration(view) is not None:
            return None
        return _refuse(
            request,
            f"{_name(view)} serves the project-scoped URL {match.route!r} without the tenancy "
            "chokepoint: decorate it with agentops.pages.project_view, subclass "
            "agentops.tenancy.endpoints.ProjectAPIView, or mark it dangerously_skip_tenancy(reason)",
        )
