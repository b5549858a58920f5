"""Writes for tenancy: organizations, projects, users, roles, ingest keys and API tokens.

Every change to membership, roles and keys writes an audit event in the same transaction. Functions
that mint a secret return it once, beside the stored row; only its hash is kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, remove_perm

from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import (
    ApiToken,
    IngestKey,
    Membership,
    Organization,
    Project,
    User,
    hash_secret,
)
from agentops.tenancy.roles import Perm, Role


class TenancyError(ValueError):
    """A request that cannot be carried out as asked; the message says why."""


@dataclass(frozen=True)
class MintedIngestKey:
    key: IngestKey
    secret: str


@dataclass(frozen=True)
class MintedApiToken:
    token: ApiToken
    secret: str


def _unique_slug(model: type[Organization] | type[Project], name: str, slug: str | None) -> str:
    if slug:
        wanted = slugify(slug)
        if wanted != slug:
            raise TenancyError(f"slug {slug!r} may hold only lowercase letters, digits, '-' and '_'")
        if model.objects.filter(slug=slug).exists():
            raise TenancyError(f"a {model._meta.verbose_name} with slug {slug!r} exists already")
        return slug
    base = slugify(name)[:90] or model._meta.model_name or "item"
    candidate, n = base, 1
    while model.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@transaction.atomic
def organization_create(*, name: str, slug: str | None = None, actor: Any = None) -> Organization:
    if not name.strip():
        raise TenancyError("an organization needs a name")
    org = Organization.objects.create(name=name.strip(), slug=_unique_slug(Organization, name, slug))
    audit_record(
        actor=actor,
        action="organization.create",
        target_type="organization",
        target_id=org.pk,
        target_label=org.slug,
        after={"name": org.name, "slug": org.slug},
        organization=org,
    )
    return org


@transaction.atomic
def project_create(*, organization: Organization, name: str, slug: str | None = None, actor: Any = None) -> Project:
    if not name.strip():
        raise TenancyError("a project needs a name")
    project = Project.objects.create(
        organization=organization, name=name.strip(), slug=_unique_slug(Project, name, slug)
    )
    audit_record(
        actor=actor,
        action="project.create",
        target_type="project",
        target_id=project.pk,
        target_label=project.slug,
        after={"name": project.name, "slug": project.slug},
        project=project,
    )
    # Alerts hang off projects, not the other way round: imported here so tenancy loads without them.
    from agentops.alerts.rules import ensure_default_rules

    ensure_default_rules(project)
    return project


@transaction.atomic
def user_create(*, email: str, password: str | None = None, is_superuser: bool = False) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise TenancyError(f"{email!r} is not an e-mail address")
    if User.objects.filter(email=email).exists():
        raise TenancyError(f"a user with e-mail {email} exists already")
    if is_superuser:
        return User.objects.create_superuser(email, password)
    return User.objects.create_user(email, password)


def _set_perms(user: User, project: Project, old: Role | None, new: Role | None) -> None:
    old_perms = old.perms if old else frozenset[Perm]()
    new_perms = new.perms if new else frozenset[Perm]()
    for perm in old_perms - new_perms:
        remove_perm(perm.qualified, user, project)
    for perm in new_perms - old_perms:
        assign_perm(perm.qualified, user, project)


@transaction.atomic
def membership_grant(*, user: User, project: Project, role: Role, actor: Any = None) -> Membership:
    """Give `user` `role` on `project`, replacing any role held before."""
    membership = Membership.objects.select_for_update().filter(user=user, project=project).first()
    old = membership.role_enum if membership else None
    if old == role:
        assert membership is not None
        return membership
    if membership is None:
        membership = Membership.objects.create(user=user, project=project, role=role.value)
    else:
        _refuse_last_admin_loss(project, membership, role)
        membership.role = role.value
        membership.save(update_fields=["role"])
    _set_perms(user, project, old, role)
    audit_record(
        actor=actor,
        action="membership.grant" if old is None else "membership.change_role",
        target_type="user",
        target_id=user.pk,
        target_label=user.email,
        before={"role": old.value} if old else None,
        after={"role": role.value},
        project=project,
    )
    return membership


@transaction.atomic
def membership_revoke(*, membership: Membership, actor: Any = None) -> None:
    membership = Membership.objects.select_for_update().select_related("user", "project").get(pk=membership.pk)
    _refuse_last_admin_loss(membership.project, membership, None)
    _set_perms(membership.user, membership.project, membership.role_enum, None)
    audit_record(
        actor=actor,
        action="membership.revoke",
        target_type="user",
        target_id=membership.user.pk,
        target_label=membership.user.email,
        before={"role": membership.role},
        after=None,
        project=membership.project,
    )
    membership.delete()


def _refuse_last_admin_loss(project: Project, membership: Membership, new_role: Role | None) -> None:
    # A project without an admin could never be managed again from the UI.
    if membership.role != Role.ADMIN or new_role == Role.ADMIN:
        return
    admins = Membership.objects.filter(project=project, role=Role.ADMIN.value).count()
    if admins <= 1:
        raise TenancyError(f"{membership.user} is the last admin of {project.slug}: make someone else admin first")


def _mint(prefix: str) -> tuple[str, str]:
    secret = prefix + secrets.token_urlsafe(32)
    return secret, secret[: len(prefix) + 6]


@transaction.atomic
def ingest_key_create(*, project: Project, name: str = "default", actor: Any = None) -> MintedIngestKey:
    secret, shown = _mint(IngestKey.PREFIX)
    key = IngestKey.objects.create(
        project=project,
        name=name.strip() or "default",
        prefix=shown,
        key_hash=hash_secret(secret),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(
        actor=actor,
        action="ingest_key.create",
        target_type="ingest_key",
        target_id=key.pk,
        target_label=f"{key.prefix}… ({key.name})",
        after={"name": key.name, "prefix": key.prefix},
        project=project,
    )
    return MintedIngestKey(key=key, secret=secret)


@transaction.atomic
def ingest_key_revoke(*, key: IngestKey, actor: Any = None) -> IngestKey:
    key = IngestKey.objects.select_for_update().select_related("project").get(pk=key.pk)
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="ingest_key.revoke",
        target_type="ingest_key",
        target_id=key.pk,
        target_label=f"{key.prefix}… ({key.name})",
        before={"revoked": False},
        after={"revoked": True},
        project=key.project,
    )
    return key


@transaction.atomic
def api_token_create(*, user: User, name: str = "default", actor: Any = None) -> MintedApiToken:
    secret, shown = _mint(ApiToken.PREFIX)
    token = ApiToken.objects.create(
        user=user, name=name.strip() or "default", prefix=shown, token_hash=hash_secret(secret)
    )
    audit_record(
        actor=actor or user,
        action="api_token.create",
        target_type="api_token",
        target_id=token.pk,
        target_label=f"{token.prefix}… ({user.email})",
        after={"name": token.name, "prefix": token.prefix},
    )
    return MintedApiToken(token=token, secret=secret)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: Any = None) -> ApiToken:
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor or token.user,
        action="api_token.revoke",
        target_type="api_token",
        target_id=token.pk,
        target_label=f"{token.prefix}… ({token.user.email})",
        before={"revoked": False},
        after={"revoked": True},
    )
    return token


@dataclass(frozen=True)
class Bootstrap:
    organization: Organization
    project: Project
    admin: User
    password: str
    ingest_key: MintedIngestKey


@transaction.atomic
def bootstrap_first_run(*, admin_email: str = "admin@localhost") -> Bootstrap | None:
    """On an empty installation: a first organization, project, admin user and ingest key.

    Returns None when any organization exists already, so it is safe to call on every start.
    """
    if Organization.objects.exists():
        return None
    password = secrets.token_urlsafe(12)
    admin = user_create(email=admin_email, password=password, is_superuser=True)
    org = organization_create(name="Default organization", slug="default")
    project = project_create(organization=org, name="Default project", slug="default")
    membership_grant(user=admin, project=project, role=Role.ADMIN)
    key = ingest_key_create(project=project, name="first key")
    return Bootstrap(organization=org, project=project, admin=admin, password=password, ingest_key=key)
