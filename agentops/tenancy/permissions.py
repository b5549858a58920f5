"""DRF permission classes of tenancy. `IsUserOrAllowedIngestKey` is the API's default (settings)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from agentops.tenancy.authentication import IngestKeyPrincipal
from agentops.tenancy.models import User


def is_ingest_key(request: Request) -> bool:
    return isinstance(request.user, IngestKeyPrincipal)


class IsUserOrAllowedIngestKey(BasePermission):
    """A logged-in person; or an ingest key, on a view that opts in with `allow_ingest_keys = True`.

    Fails closed: a view that says nothing refuses ingest keys, which read nothing by default."""

    message = "Ingest keys may not call this endpoint; use a personal API token (aop_...)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if is_ingest_key(request):
            return bool(getattr(view, "allow_ingest_keys", False))
        user = request.user
        return isinstance(user, User) and user.is_authenticated and user.is_active


class IsIngestKey(BasePermission):
    """Only an ingest key (for endpoints made for agents alone)."""

    message = "This endpoint is for ingest keys (aok_...)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_ingest_key(request) and bool(getattr(view, "allow_ingest_keys", False))
