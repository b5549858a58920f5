"""Audit events past their retention are deleted and every chain still verifies from its anchor; a kept
event tampered with still breaks it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from agentops.retention.audit_expiry import audit_expire
from agentops.retention.models import AuditAnchor
from agentops.retention.services import retention_apply
from agentops.tenancy import audit
from agentops.tenancy.audit import audit_record, verify
from agentops.tenancy.models import AuditEvent
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _note(project, n):
    return audit_record(actor=None, action="test.note", target_type="note", target_id=n, project=project)


def _events_at(monkeypatch, project, when, count):
    monkeypatch.setattr(audit.timezone, "now", lambda: when)
    events = [_note(project, i) for i in range(count)]
    monkeypatch.undo()
    return events


def test_expired_events_go_and_the_chain_still_verifies_from_its_anchor(monkeypatch):
    project, other = make_project(), make_project()
    now = timezone.now()
    old = _events_at(monkeypatch, project, now - timedelta(days=400), 3)
    others_old = _events_at(monkeypatch, other, now - timedelta(days=400), 2)
    kept = [_note(project, 10), _note(project, 11)]
    assert verify() is None

    with override_settings(AUDIT_RETENTION_DAYS=365):
        done = retention_apply(now=now)

    assert done.audit_events >= 5
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old + others_old]).exists()
    assert set(AuditEvent.objects.filter(project=project).values_list("pk", flat=True)) >= {e.pk for e in kept}
    anchor = AuditAnchor.objects.get(chain=f"project:{project.pk}")
    assert (anchor.last_deleted_id, anchor.last_deleted_hash) == (old[-1].pk, old[-1].hash)
    assert kept[0].prev_hash == old[-1].hash  # the first kept event links to the anchor
    assert verify() is None and verify(project) is None
    call_command("audit", "verify")  # `agentops audit verify`: exits 1 on a break
    # New events keep chaining on.
    _note(project, 12)
    assert verify(project) is None


def test_a_tampered_kept_event_still_breaks_the_chain(monkeypatch):
    project = make_project()
    now = timezone.now()
    _events_at(monkeypatch, project, now - timedelta(days=40), 3)
    kept = [_note(project, 10), _note(project, 11)]
    audit_expire(now=now, days=30)
    assert verify(project) is None

    AuditEvent.objects.filter(pk=kept[1].pk).update(target_label="edited")
    broken = verify(project)
    assert broken is not None and broken.event_id == kept[1].pk


def test_deleting_more_of_the_chain_than_the_anchor_says_shows(monkeypatch):
    project = make_project()
    now = timezone.now()
    _events_at(monkeypatch, project, now - timedelta(days=40), 2)
    kept = [_note(project, 10), _note(project, 11)]
    audit_expire(now=now, days=30)
    AuditEvent.objects.filter(pk=kept[0].pk).delete()
    broken = verify(project)
    assert broken is not None and broken.event_id == kept[1].pk


def test_no_audit_retention_keeps_every_event(monkeypatch):
    project = make_project()
    _events_at(monkeypatch, project, timezone.now() - timedelta(days=4000), 2)
    with override_settings(AUDIT_RETENTION_DAYS=None):
        assert retention_apply(now=timezone.now()).audit_events == 0
    assert AuditEvent.objects.filter(project=project).count() >= 2
