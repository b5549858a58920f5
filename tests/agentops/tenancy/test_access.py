import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.tenancy import services
from agentops.tenancy.access import perms_on, project_access, project_for, projects_for, request_access
from agentops.tenancy.roles import Perm, Role
from tests.factories import make_run, make_user

pytestmark = pytest.mark.django_db


def test_each_role_sees_the_project_with_its_permissions(personas):
    expected = {
        "viewer": {Perm.VIEW_PROJECT},
        "engineer": {Perm.VIEW_PROJECT, Perm.VIEW_PAYLOADS, Perm.MANAGE_GOLDENS, Perm.MANAGE_ALERTS},
        "reviewer": {
            Perm.VIEW_PROJECT,
            Perm.VIEW_PAYLOADS,
            Perm.MANAGE_GOLDENS,
            Perm.MANAGE_ALERTS,
            Perm.REVIEW_APPROVALS,
        },
        "admin": set(Perm),
    }
    for role, perms in expected.items():
        user = personas.by_role()[role]
        assert perms_on(user, personas.project) == perms, role
        for perm in Perm:
            visible = personas.project in projects_for(user, perm)
            assert visible == (perm in perms), (role, perm)


def test_outsider_sees_only_their_own_project(personas):
    assert list(projects_for(personas.outsider)) == [personas.other_project]
    with pytest.raises(Http404):
        project_for(personas.outsider, personas.project.slug)
    assert perms_on(personas.outsider, personas.project) == frozenset()


def test_unknown_slug_and_missing_permission_look_the_same(personas):
    with pytest.raises(Http404):
        project_for(personas.viewer, "no-such-project")
    with pytest.raises(Http404):
        project_for(personas.viewer, personas.project.slug, Perm.VIEW_PAYLOADS)


def test_anonymous_and_inactive_users_see_nothing(personas):
    from django.contrib.auth.models import AnonymousUser

    assert not projects_for(AnonymousUser()).exists()
    personas.admin.is_active = False
    personas.admin.save()
    assert not projects_for(personas.admin).exists()


def test_changing_a_role_replaces_the_permissions(personas):
    services.membership_grant(user=personas.engineer, project=personas.project, role=Role.VIEWER)
    assert perms_on(personas.engineer, personas.project) == {Perm.VIEW_PROJECT}


def test_superuser_sees_every_project(personas):
    root = make_user(superuser=True)
    assert set(projects_for(root)) == {personas.project, personas.other_project}


# --- once per request ---------------------------------------------------------------------------

_CHOKEPOINT = {
    'SELECT "tenancy_project"."id"': "project",
    'SELECT "tenancy_membership"."role"': "role",
    'SELECT "auth_permission"."codename"': "permissions",
}


def _chokepoint_queries(queries) -> list[str]:
    """The queries that ask who may do what on which project (the project, the role, permissions)."""
    return [kind for q in queries for start, kind in _CHOKEPOINT.items() if q["sql"].startswith(start)]


def _page_urls(project, run):
    slug = project.slug
    return {
        "project": reverse("project", kwargs={"slug": slug}),
        "members": reverse("project_members", kwargs={"slug": slug}),
        "run_list": reverse("run_list", kwargs={"slug": slug}),
        "run_replay": reverse("run_replay", kwargs={"slug": slug, "trace_id": run.trace_hex}),
        "session_thread": reverse("session_thread", kwargs={"slug": slug, "session_id": run.session}),
        "api_run": reverse("api_run", kwargs={"slug": slug, "trace_id": run.trace_hex}),
    }


def test_a_request_asks_the_chokepoint_once(client, personas):
    """Measured before this change (admin, one run): the overview and members pages 4 chokepoint
    queries (project, role, permissions twice), the run list and a replay 6 (the permissions asked
    again by the view), the API 3. Now each costs the project with its role (one query) and guardian's
    permissions (two), however many times the view, its helpers and the layout ask."""
    client.force_login(personas.admin)
    run = make_run(personas.project)
    counts = {}
    for name, url in _page_urls(personas.project, run).items():
        client.get(url)  # warm caches (content types, session)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200, name
        counts[name] = _chokepoint_queries(ctx.captured_queries)
    expected = ["project", "permissions", "permissions"]
    assert counts == dict.fromkeys(counts, expected)


def test_the_memo_answers_the_second_ask_without_a_query(personas, rf):
    request = rf.get("/")
    request.user = personas.engineer
    first = project_access(request, personas.project.slug, Perm.VIEW_PAYLOADS)
    with CaptureQueriesContext(connection) as ctx:
        again = project_access(request, personas.project.slug)
        assert request_access(request, personas.project) is again is first
        assert request_access(request, personas.project).role == Role.ENGINEER
    assert ctx.captured_queries == []
    # A permission the memo says the user lacks is still a 404.
    with pytest.raises(Http404):
        project_access(request, personas.project.slug, Perm.ADMIN_PROJECT)


def test_the_memo_is_per_user(personas, rf):
    request = rf.get("/")
    request.user = personas.admin
    project_access(request, personas.project.slug, Perm.ADMIN_PROJECT)
    request.user = personas.outsider
    with pytest.raises(Http404):
        project_access(request, personas.project.slug)


def test_project_access_grants_what_perms_on_grants(personas, rf):
    superuser = make_user(superuser=True)
    for user in [*personas.by_role().values(), superuser]:
        request = rf.get("/")
        request.user = user
        expected = perms_on(user, personas.project)
        if Perm.VIEW_PROJECT not in expected:
            with pytest.raises(Http404):
                project_access(request, personas.project.slug)
            continue
        access = project_access(request, personas.project.slug)
        assert access.perms == expected
        assert access.role == (None if user == superuser else Role(user.memberships.get().role))
