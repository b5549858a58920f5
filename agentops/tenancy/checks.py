"""System checks of tenancy, run by `agentops check` and `agentops up` (and by the web process as it
loads, see `refuse_to_start`): a project-scoped URL whose view does not pass the tenancy chokepoint
stops the start (see `guard`)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import get_resolver

from agentops.tenancy import guard


@register(Tags.security, Tags.urls)
def check_project_views(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [
        Error(
            f"{view} serves the project-scoped URL {route!r} without the tenancy chokepoint.",
            hint=(
                "Decorate it with agentops.pages.project_view, subclass "
                "agentops.tenancy.endpoints.ProjectAPIView, or mark it dangerously_skip_tenancy(reason)."
            ),
            id="agentops.tenancy.E001",
        )
        for route, view in guard.undeclared_views(get_resolver().url_patterns)
    ]


def refuse_to_start() -> None:
    """Raise ImproperlyConfigured if the check fails: gunicorn runs no system checks, so the web
    process calls this when it loads (agentops.wsgi) and does not serve a URL that skips tenancy."""
    errors = check_project_views()
    if errors:
        raise ImproperlyConfigured("\n".join(f"{e.id}: {e.msg} {e.hint}" for e in errors))
