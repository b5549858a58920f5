"""Concurrent decisions on one request, each in its own thread and database connection: the row lock
(select_for_update) makes them record one outcome."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from agentops.approvals import services
from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.approvals.services import ApprovalConflict
from agentops.tenancy.roles import Role
from agentops.tenancy.services import ingest_key_create
from tests.factories import make_member, make_project


def _race(project, approval_id, calls):
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(reviewer, decision):
        try:
            barrier.wait()
            services.approval_decide(
                project=project, approval_id=approval_id, reviewer=reviewer, decision=decision, comment="race"
            )
            outcomes.append(decision)
        except ApprovalConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_an_approve_and_a_reject_at_once_record_one_outcome():
    project = make_project()
    reviewers = [make_member(project, Role.REVIEWER) for _ in range(4)]
    key = ingest_key_create(project=project).key
    for _ in range(3):
        approval, _ = services.approval_request_create(
            project=project, data={"action": "delete", "arguments": {}}, key=key
        )
        calls = [(r, "approve" if i % 2 else "reject") for i, r in enumerate(reviewers)]
        outcomes = _race(project, approval.pk, calls)
        approval.refresh_from_db()
        recorded = list(ApprovalDecision.objects.filter(request=approval).values_list("decision", flat=True))
        # The first decision to take the lock decides (required_approvals 1); the others find it final.
        assert len(recorded) == 1 and outcomes.count("conflict") == 3
        assert approval.state == {"approve": "approved", "reject": "rejected"}[recorded[0]]


@pytest.mark.django_db(transaction=True)
def test_a_quorum_of_two_reached_concurrently_counts_each_approval():
    project = make_project()
    reviewers = [make_member(project, Role.REVIEWER) for _ in range(3)]
    key = ingest_key_create(project=project).key
    approval, _ = services.approval_request_create(
        project=project, data={"action": "delete", "arguments": {}, "required_approvals": 2}, key=key
    )
    outcomes = _race(project, approval.pk, [(r, "approve") for r in reviewers])
    approval.refresh_from_db()
    assert approval.state == ApprovalRequest.State.APPROVED
    assert sorted(outcomes) == ["approve", "approve", "conflict"]
    assert ApprovalDecision.objects.filter(request=approval).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_idempotency_key_create_one_request():
    project = make_project()
    key = ingest_key_create(project=project).key
    barrier = threading.Barrier(4)
    ids: list[int] = []

    def ask():
        try:
            barrier.wait()
            approval, _ = services.approval_request_create(
                project=project, data={"action": "send", "arguments": {"to": "x"}, "idempotency_key": "once"}, key=key
            )
            ids.append(approval.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert ApprovalRequest.objects.filter(project=project).count() == 1
