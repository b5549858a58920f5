import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.tenancy.models import AuditEvent, Membership
from agentops.tenancy.roles import Role
from tests.factories import make_member, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _members(project):
    return reverse("project_members", kwargs={"slug": project.slug})


def _membership(personas, persona):
    return Membership.objects.get(project=personas.project, user=personas.by_role()[persona])


def _role_url(project, membership):
    return reverse("project_member_role", kwargs={"slug": project.slug, "membership_id": membership.pk})


def _remove_url(project, membership):
    return reverse("project_member_remove", kwargs={"slug": project.slug, "membership_id": membership.pk})


@pytest.mark.parametrize(
    ("persona", "status"),
    [("viewer", 404), ("engineer", 404), ("reviewer", 404), ("admin", 200), ("outsider", 404)],
)
def test_only_admins_open_the_members_page(client, personas, persona, status):
    client.force_login(personas.by_role()[persona])
    assert client.get(_members(personas.project)).status_code == status


def test_the_page_lists_members_with_their_roles(client, personas):
    client.force_login(personas.admin)
    html = client.get(_members(personas.project)).content.decode()
    for persona in ("viewer", "engineer", "reviewer", "admin"):
        membership = _membership(personas, persona)
        row = html[html.index(f'id="member-{membership.pk}"') :]
        row = row[: row.index("</tr>")]
        assert membership.user.email in row
        assert f'<option value="{persona}" selected>' in row
    assert personas.outsider.email not in html


def test_admin_adds_an_existing_user_by_email(client, personas):
    newcomer = make_user("newcomer@example.com")
    client.force_login(personas.admin)
    response = client.post(
        reverse("project_member_add", kwargs={"slug": personas.project.slug}),
        {"email": "NewComer@Example.com", "role": "engineer"},
    )
    assert response.status_code == 302
    assert response["Location"] == _members(personas.project)
    assert Membership.objects.get(user=newcomer, project=personas.project).role == "engineer"
    event = AuditEvent.objects.filter(project=personas.project).first()
    assert event is not None
    assert (event.action, event.actor, event.target_label) == ("membership.grant", personas.admin, newcomer.email)
    assert event.after == {"role": "engineer"}


def test_adding_an_unknown_email_says_the_user_must_exist(client, personas):
    client.force_login(personas.admin)
    before = AuditEvent.objects.count()
    response = client.post(
        reverse("project_member_add", kwargs={"slug": personas.project.slug}),
        {"email": "nobody@example.com", "role": "viewer"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "No user has the e-mail address nobody@example.com" in html
    assert "agentops createuser nobody@example.com" in html
    assert AuditEvent.objects.count() == before


def test_adding_a_member_twice_is_refused(client, personas):
    client.force_login(personas.admin)
    response = client.post(
        reverse("project_member_add", kwargs={"slug": personas.project.slug}),
        {"email": personas.viewer.email, "role": "admin"},
    )
    assert response.status_code == 400
    assert "is a member already" in response.content.decode()
    assert _membership(personas, "viewer").role == "viewer"


def test_admin_changes_a_role(client, personas):
    client.force_login(personas.admin)
    membership = _membership(personas, "viewer")
    response = client.post(_role_url(personas.project, membership), {"role": "reviewer"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "reviewer"
    event = AuditEvent.objects.filter(project=personas.project).first()
    assert event is not None
    assert (event.action, event.before, event.after) == (
        "membership.change_role",
        {"role": "viewer"},
        {"role": "reviewer"},
    )


def test_a_role_change_through_htmx_returns_the_row(client, personas):
    client.force_login(personas.admin)
    membership = _membership(personas, "engineer")
    response = client.post(_role_url(personas.project, membership), {"role": "admin"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="member-{membership.pk}"')
    assert '<option value="admin" selected>' in html
    assert "<html" not in html


def test_an_unknown_role_is_a_form_error(client, personas):
    client.force_login(personas.admin)
    membership = _membership(personas, "viewer")
    response = client.post(_role_url(personas.project, membership), {"role": "owner"})
    assert response.status_code == 400
    assert "Choose one of the roles" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "viewer"


def test_demoting_the_last_admin_is_shown_as_an_error(client, personas):
    client.force_login(personas.admin)
    membership = _membership(personas, "admin")
    response = client.post(_role_url(personas.project, membership), {"role": "viewer"})
    assert response.status_code == 400
    assert "is the last admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "admin"

    response = client.post(_role_url(personas.project, membership), {"role": "viewer"}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="member-{membership.pk}"')
    assert "is the last admin" in html


def test_admin_removes_a_member(client, personas):
    client.force_login(personas.admin)
    membership = _membership(personas, "reviewer")
    response = client.post(_remove_url(personas.project, membership))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    event = AuditEvent.objects.filter(project=personas.project).first()
    assert event is not None
    assert (event.action, event.target_label, event.before) == (
        "membership.revoke",
        personas.reviewer.email,
        {"role": "reviewer"},
    )
    # The removed reviewer lost the project with the membership.
    client.force_login(personas.reviewer)
    assert client.get(reverse("project", kwargs={"slug": personas.project.slug})).status_code == 404


def test_removing_through_htmx_returns_an_empty_row(client, personas):
    client.force_login(personas.admin)
    membership = _membership(personas, "viewer")
    response = client.post(_remove_url(personas.project, membership), **HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_removing_the_last_admin_is_refused(client, personas):
    client.force_login(personas.admin)
    membership = _membership(personas, "admin")
    response = client.post(_remove_url(personas.project, membership))
    assert response.status_code == 400
    assert "is the last admin" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_an_admin_who_removes_themselves_goes_home(client, personas):
    make_member(personas.project, Role.ADMIN)
    third_admin = make_member(personas.project, Role.ADMIN)
    client.force_login(personas.admin)
    response = client.post(_remove_url(personas.project, _membership(personas, "admin")))
    assert response["Location"] == reverse("home")
    # Through htmx the browser is sent home too: the members page is a 404 for them now.
    client.force_login(third_admin)
    own = Membership.objects.get(project=personas.project, user=third_admin)
    response = client.post(_remove_url(personas.project, own), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("home")
    assert client.get(_members(personas.project)).status_code == 404


@pytest.mark.parametrize("persona", ["viewer", "engineer", "reviewer", "outsider"])
def test_non_admins_cannot_change_members(client, personas, persona):
    client.force_login(personas.by_role()[persona])
    slug = personas.project.slug
    target = _membership(personas, "viewer")
    before = AuditEvent.objects.count()
    posts = [
        (reverse("project_member_add", kwargs={"slug": slug}), {"email": personas.outsider.email, "role": "admin"}),
        (_role_url(personas.project, target), {"role": "admin"}),
        (_remove_url(personas.project, target), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404
    assert AuditEvent.objects.count() == before
    assert not Membership.objects.filter(project=personas.project, user=personas.outsider).exists()
    target.refresh_from_db()
    assert target.role == "viewer"


def test_a_membership_of_another_project_is_404(client, personas):
    client.force_login(personas.admin)
    foreign = Membership.objects.get(project=personas.other_project, user=personas.outsider)
    assert client.post(_role_url(personas.project, foreign), {"role": "viewer"}).status_code == 404
    assert client.post(_remove_url(personas.project, foreign)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == "admin"


def test_changes_need_the_csrf_token(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.admin)
    response = client.post(_remove_url(personas.project, _membership(personas, "viewer")))
    assert response.status_code == 403
    assert Membership.objects.filter(project=personas.project, user=personas.viewer).exists()


def test_get_on_an_action_is_405_for_admins(client, personas):
    client.force_login(personas.admin)
    assert client.get(_remove_url(personas.project, _membership(personas, "viewer"))).status_code == 405


def test_the_page_costs_the_same_queries_for_one_member_or_many(client, personas):
    client.force_login(personas.admin)
    with CaptureQueriesContext(connection) as before:
        assert client.get(_members(personas.project)).status_code == 200
    for role in Role:
        make_member(personas.project, role)
        make_member(personas.project, role)
    with CaptureQueriesContext(connection) as after:
        response = client.get(_members(personas.project))
    assert response.content.decode().count('<tr id="member-') == 4 + 8
    assert len(after) == len(before)
