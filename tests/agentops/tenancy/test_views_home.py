import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.tenancy import services
from agentops.tenancy.roles import Role
from tests.factories import make_member, make_org, make_project, make_user

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "engineer", "reviewer", "admin"])
def test_each_member_sees_the_project_and_their_role(client, personas, role):
    client.force_login(personas.by_role()[role])
    response = client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("run_list", kwargs={"slug": personas.project.slug}) in html
    assert personas.project.organization.name in html
    assert f"<td>{Role(role).label}</td>" in html
    assert personas.other_project.slug not in html


def test_outsider_sees_only_their_own_project(client, personas):
    client.force_login(personas.outsider)
    html = client.get(reverse("home")).content.decode()
    assert personas.other_project.name in html
    assert personas.project.slug not in html
    assert personas.project.organization.name not in html


def test_projects_are_grouped_by_organization(client):
    user = make_user()
    beta, alpha = make_org("Beta org"), make_org("Alpha org")
    for org, name in [(beta, "Zeta"), (alpha, "Yankee"), (beta, "Echo"), (alpha, "Bravo")]:
        project = make_project(org, name)
        services.membership_grant(user=user, project=project, role=Role.VIEWER)
    client.force_login(user)
    html = client.get(reverse("home")).content.decode()
    order = [html.index(s) for s in ["Alpha org", "Bravo", "Yankee", "Beta org", "Echo", "Zeta"]]
    assert order == sorted(order)
    assert html.count("<h2>") == 2


def test_superuser_sees_every_project(client, personas):
    client.force_login(make_user(superuser=True))
    html = client.get(reverse("home")).content.decode()
    assert personas.project.name in html and personas.other_project.name in html
    assert "Superuser" in html


def test_a_user_without_projects_is_told_what_to_do(client, user):
    client.force_login(user)
    html = client.get(reverse("home")).content.decode()
    assert "not a member of any project" in html
    assert user.email in html


def test_the_page_costs_the_same_queries_for_one_project_or_many(client):
    user = make_user()
    projects = [make_project() for _ in range(5)]
    services.membership_grant(user=user, project=projects[0], role=Role.ADMIN)
    client.force_login(user)
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("home")).status_code == 200
    for project in projects[1:]:
        services.membership_grant(user=user, project=project, role=Role.VIEWER)
    make_member(projects[1], Role.ENGINEER)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("home"))
    assert response.content.decode().count('href="/p/') == 5
    assert len(many) == len(one)
