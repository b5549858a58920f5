"""GET /api/v1/approvals/<id>/?wait=: the view's side of the long-poll (in process).

Behind `agentops web` the front does the waiting (tests/agentops/server/test_front.py, and with real
processes test_long_poll.py); here: the `wait` contract, the "park" answer given only to the front, and
the wait of any other server, which re-reads the state.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client

from agentops.approvals import selectors, services
from agentops.server.park import FRONT_HEADER, PARK_HEADER
from agentops.tenancy.services import ingest_key_create

pytestmark = pytest.mark.django_db

FRONT = {f"HTTP_{FRONT_HEADER.decode().upper().replace('-', '_')}": "park"}
PARK = PARK_HEADER.decode()


@pytest.fixture
def asked(personas):
    key = ingest_key_create(project=personas.project)
    approval, _ = services.approval_request_create(
        project=personas.project, data={"action": "refund", "arguments": {"order": 7}}, key=key.key
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {key.secret}"), f"/api/v1/approvals/{approval.pk}/", approval


@pytest.mark.parametrize("wait", ["-1", "61", "soon", "nan", "inf"])
def test_a_wait_out_of_range_is_400_naming_it(asked, wait):
    agent, url, _ = asked
    response = agent.get(url, {"wait": wait})
    assert response.status_code == 400 and response.json()["field"] == "wait"


def test_the_front_is_told_to_park_a_pending_request_and_only_the_front(asked):
    agent, url, _ = asked
    parked = agent.get(url, {"wait": "30"}, **FRONT)
    assert parked.status_code == 200 and parked.headers.get(PARK) == "1" and parked.json()["state"] == "pending"
    assert agent.get(url, {"wait": "0"}, **FRONT).headers.get(PARK) is None


def test_a_decided_request_is_answered_at_once_never_parked(asked, personas):
    agent, url, approval = asked
    services.approval_decide(
        project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
    )
    response = agent.get(url, {"wait": "30"}, **FRONT)
    assert response.headers.get(PARK) is None and response.json()["state"] == "approved"


def test_without_the_front_the_view_waits_then_answers_pending(asked, monkeypatch):
    agent, url, _ = asked
    monkeypatch.setattr(selectors, "POLL_SECONDS", 0.05)
    reads = []
    real = selectors.approval_pending_after

    def counted(approval_id, wait):
        reads.append(wait)
        return real(approval_id, wait)

    monkeypatch.setattr(selectors, "approval_pending_after", counted)
    started = time.monotonic()
    response = agent.get(url, {"wait": "0.3"})
    assert response.json()["state"] == "pending" and reads == [0.3]
    assert time.monotonic() - started >= 0.3  # it did wait (a lower bound, not a speed claim)


def test_without_the_front_a_change_during_the_wait_ends_it(asked, personas, monkeypatch):
    _, _, approval = asked
    calls = []

    def decide_on_second_look(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            services.approval_cancel(project=personas.project, approval_id=approval.pk, key=approval.created_by_key)
        return original(*args, **kwargs)

    original = type(selectors.ApprovalRequest.objects.none()).exists
    monkeypatch.setattr(type(selectors.ApprovalRequest.objects.none()), "exists", decide_on_second_look)
    assert selectors.approval_pending_after(approval.pk, 30) is False
    assert len(calls) == 2
