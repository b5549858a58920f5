import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.tenancy import services
from agentops.tenancy.models import AuditEvent, IngestKey, hash_secret
from agentops.tenancy.selectors import active_ingest_key

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _keys(project):
    return reverse("project_keys", kwargs={"slug": project.slug})


def _create(project):
    return reverse("project_key_create", kwargs={"slug": project.slug})


def _revoke(project, key):
    return reverse("project_key_revoke", kwargs={"slug": project.slug, "key_id": key.pk})


@pytest.mark.parametrize(
    ("persona", "status"),
    [("viewer", 404), ("engineer", 404), ("reviewer", 404), ("admin", 200), ("outsider", 404)],
)
def test_only_admins_open_the_keys_page(client, personas, persona, status):
    client.force_login(personas.by_role()[persona])
    assert client.get(_keys(personas.project)).status_code == status


@override_settings(SITE_URL="https://agentops.example.com")
def test_a_new_key_is_shown_once_with_the_lines_to_paste(client, personas):
    client.force_login(personas.admin)
    response = client.post(_create(personas.project), {"name": "prod support-bot"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = IngestKey.objects.get(project=personas.project)
    html = response.content.decode()
    start = html.index('<code class="value">') + len('<code class="value">')
    secret = html[start : html.index("</code>", start)]
    assert secret.startswith("aok_") and key.key_hash == hash_secret(secret)
    assert (key.name, key.created_by) == ("prod support-bot", personas.admin)
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=https://agentops.example.com\n" in html
    assert f"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20{secret}" in html
    assert active_ingest_key(secret) == key

    event = AuditEvent.objects.filter(project=personas.project).first()
    assert event is not None
    assert (event.action, event.actor, event.after) == (
        "ingest_key.create",
        personas.admin,
        {"name": "prod support-bot", "prefix": key.prefix},
    )

    # Never again: the list shows the prefix only, and so does every other page of the project.
    for url in (_keys(personas.project), reverse("project", kwargs={"slug": personas.project.slug})):
        page = client.get(url).content.decode()
        assert secret not in page
        assert secret[len(key.prefix) :] not in page
    assert key.prefix in client.get(_keys(personas.project)).content.decode()


def test_a_key_without_a_name_is_called_default(client, personas):
    client.force_login(personas.admin)
    assert client.post(_create(personas.project), {"name": ""}).status_code == 200
    assert IngestKey.objects.get(project=personas.project).name == "default"


def test_a_too_long_name_is_a_form_error(client, personas):
    client.force_login(personas.admin)
    response = client.post(_create(personas.project), {"name": "x" * 101})
    assert response.status_code == 400
    assert "at most 100 characters" in response.content.decode()
    assert not IngestKey.objects.filter(project=personas.project).exists()


def test_admin_revokes_a_key(client, personas):
    minted = services.ingest_key_create(project=personas.project, name="old")
    client.force_login(personas.admin)
    response = client.post(_revoke(personas.project, minted.key))
    assert response.status_code == 302
    assert response["Location"] == _keys(personas.project)
    minted.key.refresh_from_db()
    assert minted.key.revoked_at is not None
    assert active_ingest_key(minted.secret) is None
    event = AuditEvent.objects.filter(project=personas.project).first()
    assert event is not None
    assert (event.action, event.actor, event.after) == ("ingest_key.revoke", personas.admin, {"revoked": True})
    assert "revoked" in client.get(_keys(personas.project)).content.decode()


def test_revoking_through_htmx_returns_the_row(client, personas):
    minted = services.ingest_key_create(project=personas.project)
    client.force_login(personas.admin)
    response = client.post(_revoke(personas.project, minted.key), **HTMX)
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith(f'<tr id="key-{minted.key.pk}" class="revoked"')
    assert "Revoke</button>" not in html


@pytest.mark.parametrize("persona", ["viewer", "engineer", "reviewer", "outsider"])
def test_non_admins_cannot_create_or_revoke_keys(client, personas, persona):
    minted = services.ingest_key_create(project=personas.project)
    client.force_login(personas.by_role()[persona])
    assert client.post(_create(personas.project), {"name": "mine"}).status_code == 404
    assert client.post(_revoke(personas.project, minted.key)).status_code == 404
    assert IngestKey.objects.filter(project=personas.project).count() == 1
    minted.key.refresh_from_db()
    assert minted.key.revoked_at is None


def test_a_key_of_another_project_is_404(client, personas):
    foreign = services.ingest_key_create(project=personas.other_project)
    client.force_login(personas.admin)
    assert client.post(_revoke(personas.project, foreign.key)).status_code == 404
    foreign.key.refresh_from_db()
    assert foreign.key.revoked_at is None


def test_the_page_costs_the_same_queries_for_one_key_or_many(client, personas):
    services.ingest_key_create(project=personas.project, actor=personas.admin)
    client.force_login(personas.admin)
    with CaptureQueriesContext(connection) as one:
        assert client.get(_keys(personas.project)).status_code == 200
    for actor in (personas.admin, personas.viewer, None, personas.engineer):
        minted = services.ingest_key_create(project=personas.project, actor=actor)
    services.ingest_key_revoke(key=minted.key)
    with CaptureQueriesContext(connection) as many:
        response = client.get(_keys(personas.project))
    assert response.content.decode().count('<tr id="key-') == 5
    assert len(many) == len(one)
