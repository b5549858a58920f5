"""GET /api/v1/projects/<slug>/audit/: the audit log streamed as JSON Lines or CSV, admins only."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import AuditEvent

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil.example","x")'


def _url(project, **params):
    from django.utils.http import urlencode

    base = reverse("api_audit", kwargs={"slug": project.slug})
    return f"{base}?{urlencode(params)}" if params else base


def _body(response):
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()  # type: ignore[arg-type]  # sync under the test client


def _hostile(project):
    return audit_record(
        actor=None,
        action="test.hostile",
        target_type="note",
        target_id="-2+3",
        target_label=HOSTILE,
        before={"text": 'say "hi"\nthen leave'},
        after={"text": "@SUM(A1)"},
        project=project,
        system="+cmd|' /C calc'!A0",
    )


@pytest.mark.parametrize(
    ("persona", "status"),
    [("viewer", 404), ("engineer", 404), ("reviewer", 404), ("admin", 200), ("outsider", 404)],
)
def test_only_admins_export(client, personas, persona, status):
    client.force_login(personas.by_role()[persona])
    response = client.get(_url(personas.project, format="csv"))
    assert response.status_code == status
    if status == 404:
        assert b"project.create" not in response.content


def test_jsonl_streams_every_event_of_the_project_oldest_first(client, personas):
    _hostile(personas.project)
    audit_record(actor=None, action="elsewhere", target_type="t", target_id=1, project=personas.other_project)
    client.force_login(personas.admin)
    response = client.get(_url(personas.project))  # jsonl is the default
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    assert response.streaming
    assert "attachment" in response["Content-Disposition"]
    rows = [json.loads(line) for line in _body(response).splitlines()]
    expected = list(AuditEvent.objects.filter(project=personas.project).order_by("id").values_list("id", flat=True))
    assert [r["id"] for r in rows] == expected
    assert "elsewhere" not in {r["action"] for r in rows}
    last = rows[-1]
    assert last["target_label"] == HOSTILE and last["before"] == {"text": 'say "hi"\nthen leave'}
    assert last["actor_kind"] == "system" and last["chain"] == f"project:{personas.project.pk}"
    assert rows[0]["action"] == "project.create"
    assert all(r["prev_hash"] and r["hash"] for r in rows)


def test_csv_neutralises_formulas_and_keeps_quotes_and_newlines(client, personas):
    _hostile(personas.project)
    client.force_login(personas.admin)
    response = client.get(_url(personas.project, format="csv"))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    row = rows[-1]
    assert row["action"] == "test.hostile"
    assert row["target_label"] == "'" + HOSTILE
    assert row["target_id"] == "'-2+3"
    assert row["actor"] == "system (+cmd|' /C calc'!A0)"  # starts with "s": no formula
    assert json.loads(row["before"]) == {"text": 'say "hi"\nthen leave'}
    assert json.loads(row["after"]) == {"text": "@SUM(A1)"}
    # No cell of the whole file starts a formula.
    for cells in csv.reader(io.StringIO(_body(client.get(_url(personas.project, format="csv"))))):
        assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)


def test_since_and_until_filter(client, personas):
    now = timezone.now()
    old = audit_record(actor=None, action="old", target_type="t", target_id=1, project=personas.project)
    AuditEvent.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=10))
    client.force_login(personas.admin)
    since = (now - timedelta(days=1)).date().isoformat()
    recent = [json.loads(x)["action"] for x in _body(client.get(_url(personas.project, since=since))).splitlines()]
    assert "old" not in recent and "project.create" in recent
    until = (now - timedelta(days=5)).isoformat()
    before = [json.loads(x)["action"] for x in _body(client.get(_url(personas.project, until=until))).splitlines()]
    assert before == ["old"]


@pytest.mark.parametrize("params", [{"format": "xml"}, {"since": "yesterday"}, {"until": "2026-13-40"}])
def test_bad_parameters_are_400_naming_them(client, personas, params):
    client.force_login(personas.admin)
    response = client.get(_url(personas.project, **params))
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["detail"]


def test_the_export_reads_in_batches_not_all_at_once(client, personas, monkeypatch):
    from agentops.tenancy import audit_export

    monkeypatch.setattr(audit_export, "_BATCH", 3)
    for n in range(7):
        audit_record(actor=None, action=f"n{n}", target_type="t", target_id=n, project=personas.project)
    client.force_login(personas.admin)
    rows = _body(client.get(_url(personas.project))).splitlines()
    assert len(rows) == AuditEvent.objects.filter(project=personas.project).count()
    assert len({json.loads(r)["id"] for r in rows}) == len(rows)
