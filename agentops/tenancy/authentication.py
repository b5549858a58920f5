"""DRF authentication: personal API tokens (`aop_...`) and ingest keys (`aok_...`).

Each authenticator takes only the secrets shaped like its own (by prefix) and leaves the rest to the
next one, so a personal token's authenticator never answers 401 to an ingest key before the ingest
key's authenticator has seen it. A secret of the right shape that is unknown or revoked is a 401.

An ingest key authenticates as an `IngestKeyPrincipal`, which is no `User` and not `is_authenticated`:
the tenancy chokepoint grants it nothing, and the default permission class
(`permissions.IsUserOrAllowedIngestKey`) refuses it everywhere except on views that set
`allow_ingest_keys = True`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from agentops.tenancy.models import ApiToken, IngestKey, Project
from agentops.tenancy.selectors import active_api_token, active_ingest_key


def _bearer(request: Request) -> str:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        secret = _bearer(request)
        if not secret.startswith(ApiToken.PREFIX):
            return None  # not a personal token: an ingest key, or for the next authenticator
        token = active_api_token(secret)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 to an unauthenticated caller.
        return self.keyword


@dataclass(frozen=True)
class IngestKeyPrincipal:
    """An agent calling with its project's ingest key: `request.user` (and `request.auth` is the key).

    It holds no role, and it is not `is_authenticated`: whatever asks whether a person is logged in
    (DRF's IsAuthenticated on a view that sets its own permission_classes, templates) says no to an
    agent. Views that take ingest keys say so (`allow_ingest_keys`, `permissions.IsIngestKey`)."""

    project: Project
    key: IngestKey

    is_authenticated = False
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __str__(self) -> str:
        return f"ingest key {self.key.prefix}… of {self.project.slug}"


class IngestKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer aok_...` or `x-api-key: aok_...`, as OTLP exporters send them; the same
    lookup as OTLP ingest (`selectors.active_ingest_key`: a hash lookup that marks the key used)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        secret = _bearer(request) or request.headers.get("x-api-key", "").strip()
        if not secret.startswith(IngestKey.PREFIX):
            return None
        key = active_ingest_key(secret)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked ingest key.")
        # The lookup loads only the key's id and project: load what the principal shows, in one query.
        key = IngestKey.objects.select_related("project__organization").get(pk=key.pk)
        return IngestKeyPrincipal(project=key.project, key=key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
