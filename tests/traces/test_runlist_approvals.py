"""Runs waiting for approval in the run list (traces.views.runs, traces.selectors.runlist, traces.filters):
the mark on the page's runs, the approval=pending filter (page and API), the live poll re-sending a row
whose request was asked or decided, tenancy, and one query for the marks whatever the number of runs."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentops.approvals.models import ApprovalRequest
from agentops.approvals.services import approval_decide, approval_request_create
from agentops.tenancy import services
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.models import Run

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr id="run-\d+" class="run[^"]*" data-trace="([0-9a-f]{32})".*?</tr>', re.S)
MARK = "waiting for approval</span>"


def ask(project: Any, trace_hex: str, **data: Any) -> ApprovalRequest:
    key = services.ingest_key_create(project=project).key
    body = {"action": "refund", "arguments": {"amount": 40}, "trace_id": trace_hex, **data}
    return approval_request_create(project=project, data=body, key=key)[0]


def marked(response: Any) -> dict[str, bool]:
    """Each row's trace id and whether it carries the mark."""
    assert response.status_code == 200, response.content[:300]
    html = response.content.decode()
    return {m.group(1): MARK in m.group(0) for m in ROW.finditer(html)}


@pytest.fixture
def runs(personas: Any) -> dict[str, str]:
    """waiting: a pending request; decided: an approved one; quiet: none; theirs: a pending request of
    the same trace id in another project only."""
    project = personas.project
    found = {
        name: make_run(project, AgentTrace(agent=name)).trace_hex for name in ("waiting", "decided", "quiet", "theirs")
    }
    ask(project, found["waiting"])
    ask(project, found["waiting"])  # two pending requests: still one mark
    decided = ask(project, found["decided"])
    approval_decide(project=project, approval_id=decided.pk, reviewer=personas.reviewer, decision="approve")
    ask(personas.other_project, found["theirs"])
    ask(project, "")  # a request tied to no run
    return found


def test_runs_with_a_pending_request_are_marked(client, personas, runs):
    client.force_login(personas.viewer)
    rows = marked(client.get(f"/p/{personas.project.slug}/runs/"))
    assert rows == {runs["waiting"]: True, runs["decided"]: False, runs["quiet"]: False, runs["theirs"]: False}


def test_the_session_thread_marks_them_too(client, personas, runs):
    client.force_login(personas.engineer)
    response = client.get(f"/p/{personas.project.slug}/sessions/session-1/")
    assert response.status_code == 200
    items = re.findall(
        r'<li class="thread-run" data-trace="([0-9a-f]{32})">(.*?)</li>', response.content.decode(), re.S
    )
    assert {trace: MARK in body for trace, body in items} == {
        runs["waiting"]: True,
        runs["decided"]: False,
        runs["quiet"]: False,
        runs["theirs"]: False,
    }


def test_the_filter_lists_only_runs_waiting_for_approval(client, personas, runs):
    client.force_login(personas.viewer)
    response = client.get(f"/p/{personas.project.slug}/runs/", {"approval": "pending"})
    assert marked(response) == {runs["waiting"]: True}
    assert 'value="pending" selected' in response.content.decode()
    # Combined with another filter, and through the API.
    assert marked(client.get(f"/p/{personas.project.slug}/runs/", {"approval": "pending", "agent": "quiet"})) == {}
    api = client.get(f"/api/v1/projects/{personas.project.slug}/runs/", {"approval": "pending"}).json()
    assert [r["trace_id"] for r in api["results"]] == [runs["waiting"]]


def test_the_filter_follows_decisions(client, personas, runs):
    pending = ApprovalRequest.objects.filter(project=personas.project, trace_id=runs["waiting"])
    pending.update(state=ApprovalRequest.State.EXPIRED, decided_at=timezone.now())
    client.force_login(personas.viewer)
    assert marked(client.get(f"/p/{personas.project.slug}/runs/", {"approval": "pending"})) == {}


def test_a_bad_approval_filter_is_a_400_naming_it(client, personas, runs):
    client.force_login(personas.viewer)
    response = client.get(f"/p/{personas.project.slug}/runs/", {"approval": "approved"})
    assert response.status_code == 400 and "approval must be pending" in response.content.decode()
    api = client.get(f"/api/v1/projects/{personas.project.slug}/runs/", {"approval": "<x>"})
    assert api.status_code == 400 and "approval must be pending" in api.json()["detail"]


def test_the_live_poll_resends_a_row_whose_request_was_asked_or_decided(client, personas, runs):
    """Asking or deciding writes no run: without its own look at the requests, the poll would leave
    the mark as it was until a reload."""
    hour_ago = timezone.now() - timedelta(hours=1)
    Run.objects.filter(project=personas.project).update(updated_at=hour_ago)
    ApprovalRequest.objects.filter(project=personas.project).update(created_at=hour_ago - timedelta(minutes=1))
    ApprovalRequest.objects.exclude(decided_at=None).update(decided_at=hour_ago)
    client.force_login(personas.viewer)
    ids = dict(Run.objects.filter(project=personas.project).values_list("trace_id", "pk"))
    quiet = next(pk for trace, pk in ids.items() if trace.hex == runs["quiet"])
    url = f"/p/{personas.project.slug}/runs/"

    def poll() -> Any:
        query = [("after", max(ids.values())), ("since", timezone.now().isoformat())]
        return client.get(url, query + [("shown", pk) for pk in ids.values()])

    def quiet_row(response: Any) -> str:
        assert response.status_code == 200
        row = re.search(rf'<tr id="run-{quiet}".*?</tr>', response.content.decode(), re.S)
        assert row and 'hx-swap-oob="true"' in row.group(0)
        return row.group(0)

    assert poll().status_code == 204
    approval = ask(personas.project, runs["quiet"])
    assert MARK in quiet_row(poll())
    approval_decide(project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve")
    assert MARK not in quiet_row(poll())


def test_the_marks_cost_one_query_whatever_the_number_of_runs(client, personas, runs):
    client.force_login(personas.engineer)
    url = f"/p/{personas.project.slug}/runs/"
    client.get(url)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return sum("approvals_approvalrequest" in q["sql"] for q in queries.captured_queries)

    assert count() == 1
    for n in range(5):
        trace = make_run(personas.project, AgentTrace(agent=f"more-{n}")).trace_hex
        ask(personas.project, trace)
    assert count() == 1
