import pytest
from django.test import Client

from agentops.tenancy.roles import Role
from tests.factories import make_member, make_project

pytestmark = pytest.mark.django_db


def test_an_htmx_request_without_a_session_is_sent_to_the_login_page_whole():
    project = make_project()
    response = Client().get(
        f"/p/{project.slug}/runs/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/p/{project.slug}/runs/?status=error&agent=a",
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == (
        f"/login/?next=http%3A%2F%2Ftestserver%2Fp%2F{project.slug}%2Fruns%2F%3Fstatus%3Derror%26agent%3Da"
    )
    assert response.content == b""


def test_a_plain_request_without_a_session_is_redirected_as_usual():
    project = make_project()
    response = Client().get(f"/p/{project.slug}/runs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_htmx_requests_of_a_logged_in_user_are_untouched():
    project = make_project()
    client = Client()
    client.force_login(make_member(project, Role.VIEWER))
    response = client.get(f"/p/{project.slug}/runs/", HTTP_HX_REQUEST="true")
    assert response.status_code in (200, 204)
    assert "HX-Redirect" not in response
