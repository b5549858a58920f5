"""Roles: named bundles of django-guardian object permissions on a Project.

Each role includes every permission of the roles before it. "view_payloads" (inputs, outputs, tool
arguments) is its own permission so that a Viewer can see structure, timing and cost without content.
"""

from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    VIEW_PROJECT = "view_project"
    VIEW_PAYLOADS = "view_payloads"
    MANAGE_GOLDENS = "manage_goldens"
    MANAGE_ALERTS = "manage_alerts"
    REVIEW_APPROVALS = "review_approvals"
    ADMIN_PROJECT = "admin_project"

    @property
    def qualified(self) -> str:
        return f"tenancy.{self.value}"


class Role(StrEnum):
    VIEWER = "viewer"
    ENGINEER = "engineer"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def perms(self) -> frozenset[Perm]:
        return ROLE_PERMS[self]


_VIEWER = frozenset({Perm.VIEW_PROJECT})
_ENGINEER = _VIEWER | {Perm.VIEW_PAYLOADS, Perm.MANAGE_GOLDENS, Perm.MANAGE_ALERTS}
_REVIEWER = _ENGINEER | {Perm.REVIEW_APPROVALS}
_ADMIN = _REVIEWER | {Perm.ADMIN_PROJECT}

ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.VIEWER: _VIEWER,
    Role.ENGINEER: _ENGINEER,
    Role.REVIEWER: _REVIEWER,
    Role.ADMIN: _ADMIN,
}

ROLE_CHOICES = [(r.value, r.label) for r in Role]


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}: choose one of {names}") from None
