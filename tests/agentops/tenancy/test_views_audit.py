import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.tenancy import services
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.views import AUDIT_PAGE_SIZE

pytestmark = pytest.mark.django_db


def _audit(project, page=None):
    url = reverse("project_audit", kwargs={"slug": project.slug})
    return f"{url}?page={page}" if page else url


@pytest.mark.parametrize(
    ("persona", "status"),
    [("viewer", 404), ("engineer", 404), ("reviewer", 404), ("admin", 200), ("outsider", 404)],
)
def test_only_admins_read_the_audit_log(client, personas, persona, status):
    client.force_login(personas.by_role()[persona])
    assert client.get(_audit(personas.project)).status_code == status


def test_events_are_shown_newest_first_with_who_and_what(client, personas):
    minted = services.ingest_key_create(project=personas.project, name="first", actor=personas.admin)
    services.ingest_key_revoke(key=minted.key, actor=personas.admin)
    services.ingest_key_create(project=personas.other_project, name="elsewhere", actor=personas.outsider)
    client.force_login(personas.admin)
    html = client.get(_audit(personas.project)).content.decode()
    revoke, create = html.index("ingest_key.revoke"), html.index("ingest_key.create")
    grant = html.index("membership.grant")
    assert revoke < create < grant
    assert personas.admin.email in html[revoke - 200 : revoke]
    assert "revoked: False" in html and "revoked: True" in html
    assert "role: viewer" in html
    # Another project's events stay in that project.
    assert "elsewhere" not in html
    assert personas.outsider.email not in html


def test_the_log_is_paginated(client, personas):
    already = AuditEvent.objects.filter(project=personas.project).count()
    for n in range(AUDIT_PAGE_SIZE + 5 - already):
        services.ingest_key_create(project=personas.project, name=f"k{n}")
    total = AuditEvent.objects.filter(project=personas.project).count()
    assert total == AUDIT_PAGE_SIZE + 5
    client.force_login(personas.admin)
    first = client.get(_audit(personas.project)).content.decode()
    second = client.get(_audit(personas.project, 2)).content.decode()
    assert first.count("<tr>") - 1 == AUDIT_PAGE_SIZE  # minus the header row
    assert second.count("<tr>") - 1 == 5
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert "?page=2" in first
    # The oldest event (the project's creation) is on the last page.
    assert "project.create" in second and "project.create" not in first
    # A page number out of range shows the last page, not an error.
    assert "Page 2 of 2" in client.get(_audit(personas.project, 99)).content.decode()


def test_the_page_costs_the_same_queries_for_few_events_or_many(client, personas):
    client.force_login(personas.admin)
    with CaptureQueriesContext(connection) as few:
        assert client.get(_audit(personas.project)).status_code == 200
    for n in range(30):
        services.ingest_key_create(project=personas.project, name=f"k{n}", actor=personas.admin)
    with CaptureQueriesContext(connection) as many:
        assert client.get(_audit(personas.project)).status_code == 200
    assert len(many) == len(few)


def test_the_page_filters_by_date_and_links_the_export_with_the_same_filters(client, personas):
    from datetime import timedelta

    from django.utils import timezone

    old = services.ingest_key_create(project=personas.project, name="ancient", actor=personas.admin)
    event = AuditEvent.objects.get(action="ingest_key.create", project=personas.project)
    AuditEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert old.key.name == "ancient"
    client.force_login(personas.admin)
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    html = client.get(f"{_audit(personas.project)}?since={since}").content.decode()
    assert "ancient" not in html and "membership.grant" in html
    export = reverse("api_audit", kwargs={"slug": personas.project.slug})
    assert f'href="{export}?since={since}&amp;format=csv"' in html
    assert f'href="{export}?since={since}&amp;format=jsonl"' in html
    # A hostile filter value is refused, escaped, and not carried into the links.
    html = client.get(f"{_audit(personas.project)}?since=%22%3E%3Cscript%3E").content.decode()
    assert "<script>" not in html and "not an ISO 8601" in html
    assert f'href="{export}?format=csv"' in html
    assert "ancient" in html
