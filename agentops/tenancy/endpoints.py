"""The base of every project-scoped API view, where the API meets the tenancy chokepoint.

`ProjectAPIView` resolves the project of the URL's `slug` through `access.project_access` before any
handler runs, whatever the method: another tenant's project is a 404, never a 405 or 403 that would
confirm it exists. Then the method must be in the view's `required_perms` (Sentry's scope map) and the
caller must hold its permission:

    class RunList(ProjectAPIView):
        required_perms = {"GET": Perm.VIEW_PROJECT}

- a method missing from the map is 405 for a member (404 for an outsider, who never gets that far);
- a permission the caller lacks is 404, as on the pages;
- a view without a map, or with a handler its map does not name, fails at import (fail closed);
- HEAD follows GET; OPTIONS describes the endpoint to anyone who may see the project.

Subclasses may not define `get_queryset` (PostHog's rule): objects come from selectors scoped to
`self.project`. A view that truly needs its own must name it `dangerously_get_queryset`, where review
finds it.

`AgentAPIView` is the base of the few endpoints agents call with their ingest key, whose URLs name no
project (the approvals API): it takes ingest keys and resolves a person's project through the chokepoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from agentops.tenancy import access
from agentops.tenancy.models import IngestKey, Project
from agentops.tenancy.roles import Perm

HANDLERS = ("get", "post", "put", "patch", "delete")


class ProjectAPIView(APIView):
    required_perms: ClassVar[Mapping[str, Perm] | None] = None

    project: Project
    perms: frozenset[Perm]
    payloads: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if "get_queryset" in cls.__dict__:
            raise ImproperlyConfigured(
                f"{name} defines get_queryset: a ProjectAPIView gets its objects from selectors scoped to "
                "self.project; a view that must bypass them names it dangerously_get_queryset"
            )
        handlers = {h.upper() for h in HANDLERS if callable(getattr(cls, h, None))}
        if not handlers:
            return  # an abstract base: its subclasses are checked
        if cls.required_perms is None:
            raise ImproperlyConfigured(
                f"{name} has no required_perms: map each HTTP method it serves to the Perm it needs"
            )
        unmapped = handlers - set(cls.required_perms)
        if unmapped:
            raise ImproperlyConfigured(f"{name} serves {sorted(unmapped)} without a permission in required_perms")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        if self.required_perms is None:  # only reachable by bypassing __init_subclass__; refuse anyway
            raise ImproperlyConfigured(f"{type(self).__qualname__} has no required_perms")
        tenancy = access.project_access(request, kwargs["slug"])
        method = "GET" if request.method == "HEAD" else (request.method or "")
        if method != "OPTIONS":
            if method not in self.required_perms:
                raise MethodNotAllowed(method)
            if self.required_perms[method] not in tenancy.perms:
                raise NotFound("No such project")
        self.project = tenancy.project
        self.perms = tenancy.perms
        self.payloads = Perm.VIEW_PAYLOADS in tenancy.perms


class AgentAPIView(APIView):
    """The base of endpoints an agent calls with its project's ingest key (or a person with a personal
    token). Such URLs name no project: an ingest key's project is its own, and a person names one in the
    body, resolved by `person_project` through the tenancy chokepoint. The subclass scopes every read to
    `self.ingest_key` (and its project) or to the person: an ingest key reads only what it created."""

    allow_ingest_keys = True
    ingest_key: IngestKey | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.ingest_key = request.auth if isinstance(request.auth, IngestKey) else None

    def person_project(self, slug: Any, perm: Perm = Perm.VIEW_PROJECT) -> Project:
        """The project `slug` for the person calling, if they hold `perm` on it; otherwise 404."""
        if not isinstance(slug, str) or not slug:
            raise NotFound("No such project")
        try:
            return access.project_access(self.request, slug, perm).project
        except Http404:
            raise NotFound("No such project") from None
