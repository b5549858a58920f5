from __future__ import annotations

import hashlib
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from guardian.models import UserObjectPermissionBase

from agentops.tenancy.roles import ROLE_CHOICES, Role


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("an e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person, who logs in with an e-mail address."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[assignment,misc]

    def __str__(self) -> str:
        return self.email


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    """The unit of tenancy: it owns ingest keys, runs, rules and golden sets; roles are granted on it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    # Globally unique so that URLs and the CLI can name a project by slug alone.
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "name"]
        permissions = [
            ("view_payloads", "View run inputs, outputs and tool arguments"),
            ("manage_goldens", "Manage golden sets"),
            ("manage_alerts", "Manage alert rules and budgets"),
            ("review_approvals", "Review and decide approval requests"),
            ("admin_project", "Manage members, keys, retention and budgets; read the audit log"),
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"


class ProjectUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign key for guardian: permission checks join on an integer, not a text object_pk."""

    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class Membership(models.Model):
    """Which role a user holds on a project. The guardian permissions are derived from it by services."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_user_project")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


def hash_secret(secret: str) -> str:
    # The secrets are 32 random bytes: a fast hash is enough, and lets authentication be one index lookup.
    return hashlib.sha256(secret.encode()).hexdigest()


class IngestKey(models.Model):
    """Write-only credential of one project, for OTLP exporters. Only its hash is stored."""

    PREFIX = "aok_"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ingest_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, shown to identify it")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiToken(models.Model):
    """A personal token for the REST API; it acts with the roles of its user. Only its hash is stored."""

    PREFIX = "aop_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(models.Model):
    """Append-only, hash-chained record of a change: who, what, when, before and after.

    Each event's hash covers its content and the previous event's hash in its chain (one per project,
    one per organization for project-less events; "legacy" for the events written as one global chain
    before), so removing or editing a past event breaks the chain (`agentops.tenancy.audit.verify`).
    """

    class ActorKind(models.TextChoices):
        USER = "user"
        INGEST_KEY = "ingest_key"
        SYSTEM = "system"

    organization = models.ForeignKey(Organization, null=True, on_delete=models.PROTECT, related_name="+")
    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL, related_name="audit_events")
    chain = models.CharField(max_length=64, help_text="project:<id>, org:<id>, global, or legacy")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=254, help_text="Who acted, kept if the user is deleted")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=254, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="audit_project_recent"),
            models.Index(fields=["chain", "-id"], name="audit_chain_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_label}"
