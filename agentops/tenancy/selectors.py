"""Reads for tenancy. Queries that start from a user go through the access chokepoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from agentops.tenancy.models import ApiToken, AuditEvent, IngestKey, Membership, Project, hash_secret

# last_used_at is written at most this often per credential, so that every request does not write.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def project_members(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__email")


def project_ingest_keys(project: Project) -> QuerySet[IngestKey]:
    return project.ingest_keys.select_related("created_by").order_by("-created_at")


def project_audit_events(project: Project) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(project=project).order_by("-id")


def user_api_tokens(user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def _touch(model: type[IngestKey] | type[ApiToken], pk: int, last_used_at: Any) -> None:
    now = timezone.now()
    if last_used_at is None or now - last_used_at > LAST_USED_GRANULARITY:
        model.objects.filter(pk=pk).update(last_used_at=now)


def active_ingest_key(secret: str) -> IngestKey | None:
    """The unrevoked ingest key whose secret this is, with its project; marks it used."""
    if not secret.startswith(IngestKey.PREFIX):
        return None
    key = (
        IngestKey.objects.select_related("project")
        .filter(key_hash=hash_secret(secret), revoked_at__isnull=True)
        .first()
    )
    if key is not None:
        _touch(IngestKey, key.pk, key.last_used_at)
    return key


def active_api_token(secret: str) -> ApiToken | None:
    if not secret.startswith(ApiToken.PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_secret(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is not None:
        _touch(ApiToken, token.pk, token.last_used_at)
    return token
