"""The tenancy chokepoint: which projects a user may act on, for a permission.

Every view, API endpoint, export and task that acts for a user starts from here: `projects_for` and
`project_for` for a user, `project_access` for a request (pages through `agentops.pages.project_view`,
API views through `agentops.tenancy.endpoints.ProjectAPIView`). A project the user may not see is
indistinguishable from one that does not exist (404), so nothing leaks the names of other tenants'
projects.

Only real, active users hold permissions here: an anonymous caller or an ingest key (which is no
`User`) gets nothing, whatever view lets them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest
from guardian.shortcuts import get_objects_for_user, get_perms

from agentops.tenancy.models import Membership, Project, User
from agentops.tenancy.roles import Perm, Role

# Where the request memo lives (on the Django HttpRequest, under DRF's Request too).
_MEMO = "_agentops_tenancy"


@dataclass(frozen=True)
class ProjectAccess:
    """A project the user may see, with their role on it (None for a superuser who is no member)."""

    project: Project
    role: Role | None
    perms: frozenset[Perm]


def _is_person(user: Any) -> bool:
    return isinstance(user, User) and user.is_authenticated and user.is_active


def projects_for(user: Any, perm: Perm = Perm.VIEW_PROJECT) -> QuerySet[Project]:
    if not _is_person(user):
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
    if not _is_person(user):
        return frozenset()
    if user.is_superuser:
        return frozenset(Perm)
    held = set(get_perms(user, project))
    return frozenset(p for p in Perm if p.value in held)


def _memo(request: Any) -> dict[tuple[int, str], ProjectAccess]:
    # DRF's Request wraps the HttpRequest that middleware sees: keep one memo, on the HttpRequest.
    http: HttpRequest = getattr(request, "_request", request)
    memo: dict[tuple[int, str], ProjectAccess] | None = getattr(http, _MEMO, None)
    if memo is None:
        memo = {}
        setattr(http, _MEMO, memo)
    return memo


def _load(user: User, slug: str) -> ProjectAccess | None:
    """The project `slug` with `user`'s role and permissions: one query for the project and role, and
    guardian's for the permissions. None when the user may not view the project (or it does not exist)."""
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    project = Project.objects.select_related("organization").annotate(member_role=Subquery(role))
    found = project.filter(slug=slug).first()
    if found is None:
        return None
    perms = perms_on(user, found)
    if Perm.VIEW_PROJECT not in perms:
        return None
    member_role = getattr(found, "member_role", None)
    return ProjectAccess(project=found, role=Role(member_role) if member_role else None, perms=perms)


def project_access(request: Any, slug: str, perm: Perm = Perm.VIEW_PROJECT) -> ProjectAccess:
    """The project `slug` for the user of `request`, if they hold `perm` on it; otherwise Http404.

    The project, role and permissions are looked up once per request and user, whoever asks again
    (the view, the page layout, a helper); `was_resolved` tells the tenancy guard that it happened.
    """
    user = request.user
    if not _is_person(user):
        raise Http404("No such project")
    memo = _memo(request)
    key = (user.pk, slug)
    if key not in memo:
        found = _load(user, slug)
        if found is None:
            raise Http404("No such project")
        memo[key] = found
    access = memo[key]
    if perm not in access.perms:
        raise Http404("No such project")
    return access


def request_access(request: Any, project: Project) -> ProjectAccess:
    """The memoized access of `request`'s user to `project`, which the view resolved already."""
    return project_access(request, project.slug)


def was_resolved(request: HttpRequest) -> bool:
    """Whether a view of this request passed the chokepoint (`project_access`) for some project."""
    return bool(getattr(request, _MEMO, None))
