"""Erasure of an end user: every run, step and log record of theirs in the project goes, pinned or not,
and out of the per-user rollups; nothing else does. Admin only, audited with who and why."""

from __future__ import annotations

import pytest
from django.test import Client

from agentops.retention.erasure import erase_user
from agentops.retention.models import Erasure, Pin
from agentops.tenancy.models import AuditEvent
from tests.agentops.retention.helpers import old_run, steps_of
from traces import rollups
from traces.models import LogRecord, Run, RunHour, RunHourBreakdown, RunHourUser, Step

pytestmark = pytest.mark.django_db


def _rows(project):
    return (
        Run.objects.filter(project=project).count(),
        Step.objects.filter(project_id=project.pk).count(),
    )


def test_erasure_removes_every_row_of_the_user_and_nothing_else(personas):
    project, other = personas.project, personas.other_project
    mine = [old_run(project, days=1, user="alice@example.com"), old_run(project, days=30, user="alice@example.com")]
    bobs = old_run(project, days=1, user="bob")
    elsewhere = old_run(other, days=1, user="alice@example.com")  # same id, another tenant
    Pin.objects.create(project=project, trace_id=mine[0].trace_id, reason="pins do not stop an erasure")
    LogRecord.objects.create(
        project=project,
        trace_id=mine[0].trace_id,
        span_id=1,
        time=mine[0].start_time,
        time_ns=0,
        digest="d",
        body={"m": 1},
    )
    rollups.refresh()
    assert RunHourUser.objects.filter(project=project, user_id="alice@example.com").exists()
    others_before = _rows(other)
    runs_total = RunHour.objects.filter(project=project).values_list("runs", flat=True)
    assert sum(runs_total) == 3

    done = erase_user(project=project, user_id="alice@example.com", reason="GDPR ticket 7", actor=personas.admin)

    assert (done.runs, done.steps, done.log_records) == (2, mine[0].step_count + mine[1].step_count, 1)
    assert not Run.objects.filter(project=project, user_id="alice@example.com").exists()
    assert not any(steps_of(r).exists() for r in mine)
    assert not LogRecord.objects.filter(project=project, trace_id=mine[0].trace_id).exists()
    # Out of the rollups too: no per-user row names them; the totals no longer count them.
    assert not RunHourUser.objects.filter(project=project, user_id="alice@example.com").exists()
    assert not RunHourBreakdown.objects.filter(project=project, dim="user", key="alice@example.com").exists()
    assert sum(RunHour.objects.filter(project=project).values_list("runs", flat=True)) == 1
    rollups.refresh()
    assert sum(RunHour.objects.filter(project=project).values_list("runs", flat=True)) == 1
    # Nothing else.
    assert steps_of(bobs).count() == bobs.step_count
    assert _rows(other) == others_before and steps_of(elsewhere).exists()
    event = AuditEvent.objects.get(project=project, action="retention.erasure")
    assert event.actor_id == personas.admin.pk
    assert event.after == {
        "user_id": "alice@example.com",
        "reason": "GDPR ticket 7",
        "runs": 2,
        "steps": done.steps,
        "log_records": 1,
    }


def test_the_erasures_api_is_for_admins_and_answers_what_went(personas):
    project = personas.project
    old_run(project, days=1, user="carol")
    url = f"/api/v1/projects/{project.slug}/erasures/"
    body = {"user_id": "carol", "reason": "asked by e-mail"}
    for user in (personas.engineer, personas.viewer, personas.outsider):
        client = Client()
        client.force_login(user)
        assert client.post(url, body, content_type="application/json").status_code == 404
        assert client.get(url).status_code == 404
    assert Run.objects.filter(project=project, user_id="carol").exists()

    client = Client()
    client.force_login(personas.admin)
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["deleted"]["runs"] == 1 and response.json()["user_id"] == "carol"
    assert not Run.objects.filter(project=project, user_id="carol").exists()
    listed = client.get(url).json()["results"]
    assert [e["user_id"] for e in listed] == ["carol"] and listed[0]["requested_by"] == personas.admin.email
    missing = client.post(url, {"user_id": "carol"}, content_type="application/json")
    assert missing.status_code == 400 and missing.json()["field"] == "reason"


def test_the_erasure_form_on_the_settings_page(personas):
    project = personas.project
    old_run(project, days=1, user="dave")
    client = Client()
    client.force_login(personas.admin)
    url = f"/p/{project.slug}/settings/retention/erasures/"
    unconfirmed = client.post(url, {"user_id": "dave", "reason": "request"})
    assert unconfirmed.status_code == 400 and Run.objects.filter(project=project, user_id="dave").exists()
    response = client.post(url, {"user_id": "dave", "reason": "request", "confirm": "on"})
    assert response.status_code == 302
    assert not Run.objects.filter(project=project, user_id="dave").exists()
    page = client.get(f"/p/{project.slug}/settings/retention/").content.decode()
    assert "dave" in page and Erasure.objects.filter(project=project).count() == 1
