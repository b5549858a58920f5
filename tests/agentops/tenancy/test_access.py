import pytest
from django.http import Http404

from agentops.tenancy import services
from agentops.tenancy.access import perms_on, project_for, projects_for
from agentops.tenancy.roles import Perm, Role
from tests.factories import make_user

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
