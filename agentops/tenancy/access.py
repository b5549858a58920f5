"""The tenancy chokepoint: which projects a user may act on, for a permission.

Every view, API endpoint, export and task that acts for a user starts from `projects_for` or
`project_for`. A project the user may not see is indistinguishable from one that does not exist
(404), so nothing leaks the names of other tenants' projects.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user, get_perms

from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm


def projects_for(user: Any, perm: Perm = Perm.VIEW_PROJECT) -> QuerySet[Project]:
    if user is None or not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    projects: QuerySet[Project] = get_objects_for_user(
        user, perm.qualified, klass=Project, accept_global_perms=False, with_superuser=True
    )
    return projects.select_related("organization")


def project_for(user: Any, slug: str, perm: Perm = Perm.VIEW_PROJECT) -> Project:
    """The project `slug` if `user` holds `perm` on it; otherwise Http404."""
    try:
        return projects_for(user, perm).get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project") from None


def perms_on(user: Any, project: Project) -> frozenset[Perm]:
    """The permissions `user` holds on `project` (to show or hide parts of a page)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Perm)
    held = set(get_perms(user, project))
    return frozenset(p for p in Perm if p.value in held)
