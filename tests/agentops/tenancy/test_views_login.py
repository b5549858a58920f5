import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_login_page_renders_an_email_field(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"E-mail address" in response.content


def test_login_with_the_email_in_any_case_lands_on_home(client):
    user = make_user("Ada@Example.com")
    response = client.post(reverse("login"), {"username": "  ADA@example.COM ", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_wrong_password_is_refused_with_a_message(client):
    make_user("ada@example.com")
    response = client.post(reverse("login"), {"username": "ada@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert "_auth_user_id" not in client.session


def test_login_returns_to_the_page_asked_for(client, personas):
    page = reverse("project", kwargs={"slug": personas.project.slug})
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={page}"
    response = client.post(
        f"{reverse('login')}?next={page}",
        {"username": personas.viewer.email, "password": PASSWORD, "next": page},
    )
    assert response["Location"] == page


def test_a_logged_in_user_is_sent_from_login_to_home(client, user):
    client.force_login(user)
    response = client.get(reverse("login"))
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_logout_is_a_post(client, user):
    client.force_login(user)
    assert client.get(reverse("logout")).status_code == 405
    assert "_auth_user_id" in client.session
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_logout_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(reverse("logout")).status_code == 403
    assert "_auth_user_id" in client.session
