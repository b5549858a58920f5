"""The expiry job: beat runs it often, it expires overdue requests the longest overdue first, a batch at
a time, and queues itself again while a full batch came back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agentops.approvals import services, tasks
from agentops.approvals.models import ApprovalRequest
from agentops.celery import app
from tests.agentops.approvals.test_services import _ask

pytestmark = pytest.mark.django_db


def _overdue(project, n: int) -> list[ApprovalRequest]:
    made = [_ask(project, idempotency_key=f"k{i}")[0] for i in range(n)]
    for i, approval in enumerate(made):  # the first made is the longest overdue
        ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(minutes=10 - i))
    return made


def test_the_job_expires_overdue_requests_in_batches_the_longest_overdue_first(personas, monkeypatch):
    made = _overdue(personas.project, 3)
    fresh, _ = _ask(personas.project, expires_in=3600)
    monkeypatch.setattr(services, "EXPIRE_BATCH", 2)
    queued = []
    monkeypatch.setattr(tasks.expire_approvals, "delay", lambda: queued.append(1))

    assert tasks.expire_approvals() == {"expired": 2, "escalated": 0}
    states = dict(ApprovalRequest.objects.values_list("pk", "state"))
    assert [states[a.pk] for a in made] == ["expired", "expired", "pending"]
    assert queued == [1], "a full batch queues the next at once"

    assert tasks.expire_approvals() == {"expired": 1, "escalated": 0}
    assert queued == [1], "a short batch leaves the rest to beat"
    assert ApprovalRequest.objects.get(pk=fresh.pk).state == "pending"


def test_beat_runs_it_every_fifteen_seconds_and_drops_a_late_one():
    (entry,) = [e for e in app.conf.beat_schedule.values() if e["task"] == tasks.expire_approvals.name]
    assert entry["schedule"] == 15.0
    assert 0 < entry["options"]["expires"] < entry["schedule"]
