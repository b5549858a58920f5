import pytest
from django.test import override_settings
from django.urls import reverse

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("project", kwargs={"slug": project.slug})


@pytest.mark.parametrize(
    ("persona", "status"),
    [("viewer", 200), ("engineer", 200), ("reviewer", 200), ("admin", 200), ("outsider", 404)],
)
def test_who_may_open_the_project(client, personas, persona, status):
    client.force_login(personas.by_role()[persona])
    assert client.get(_url(personas.project)).status_code == status


def test_an_unknown_slug_is_the_same_404(client, personas):
    client.force_login(personas.admin)
    assert client.get(reverse("project", kwargs={"slug": "no-such-project"})).status_code == 404


@override_settings(SITE_URL="https://agentops.example.com")
def test_the_overview_says_where_to_send_traces(client, personas):
    client.force_login(personas.engineer)
    html = client.get(_url(personas.project)).content.decode()
    assert personas.project.name in html
    assert personas.project.organization.name in html
    assert "Engineer" in html
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=https://agentops.example.com\n" in html
    assert "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20&lt;your-ingest-key&gt;" in html
    # Not an admin: no link to the keys page or the settings tabs.
    assert reverse("project_keys", kwargs={"slug": personas.project.slug}) not in html
    assert reverse("project_members", kwargs={"slug": personas.project.slug}) not in html
    assert "Ask an admin" in html


def test_admins_get_links_to_keys_and_settings(client, personas):
    client.force_login(personas.admin)
    html = client.get(_url(personas.project)).content.decode()
    slug = personas.project.slug
    for name in ("project_keys", "project_members", "project_audit"):
        assert reverse(name, kwargs={"slug": slug}) in html


def test_a_superuser_who_is_no_member_sees_it_as_superuser(client, personas):
    client.force_login(make_user(superuser=True))
    html = client.get(_url(personas.project)).content.decode()
    assert "Superuser" in html
    assert reverse("project_keys", kwargs={"slug": personas.project.slug}) in html
