"""Approval requests in a run's replay (traces.approval_steps, traces.views.replay): an APPROVAL step
under the step that asked (else the root), by time; whichever of span and request arrives first; its
panel with state, decisions, wait and (payload viewers only) the arguments as asked and as edited;
hostile values escaped; another project's request with the same trace id never shown.

Runs are stored through the real ingest pipeline, requests through agentops.approvals.services.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentops.approvals.models import ApprovalRequest
from agentops.approvals.services import approval_decide, approval_request_create
from agentops.tenancy import services
from tests.factories import make_run
from tests.otlp import NS, AgentTrace
from traces import approval_steps

pytestmark = pytest.mark.django_db

# AgentTrace(llm_calls=2) spans, seconds after its start: root [0, 7], chat [1, 2], chat [3, 4],
# execute_tool lookup_order [5, 6]. Tree order: root, chat, chat, tool.
ROOT, CHAT0, CHAT1, TOOL = 0, 1, 2, 3
ROW = re.compile(r'<li class="row kind-(\w+)[^"]*" data-index="(\d+)" data-span="([^"]+)"[^>]*style="--depth: (\d+)"')


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def at(trace: AgentTrace, seconds: float) -> datetime:
    return datetime.fromtimestamp(trace.start_ns / NS + seconds, UTC)


def ask(
    project: Any,
    trace_hex: str,
    *,
    span: str | None = None,
    created: datetime | None = None,
    action: str = "refund",
    arguments: dict[str, Any] | None = None,
    **data: Any,
) -> ApprovalRequest:
    """An approval request of the run `trace_hex`, asked by an ingest key, asked at `created`."""
    key = services.ingest_key_create(project=project).key
    body = {"action": action, "arguments": arguments or {"order": "A-100", "amount": 40}, "trace_id": trace_hex}
    if span:
        body["span_id"] = span
    approval = approval_request_create(project=project, data=body | data, key=key)[0]
    if created is not None:
        ApprovalRequest.objects.filter(pk=approval.pk).update(created_at=created)
        approval.refresh_from_db()
    return approval


def decide(project: Any, approval: ApprovalRequest, reviewer: Any, decision: str = "approve", **kwargs: Any) -> None:
    approval_decide(project=project, approval_id=approval.pk, reviewer=reviewer, decision=decision, **kwargs)


def replay_url(project: Any, trace_hex: str) -> str:
    return reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace_hex})


def panel_url(project: Any, trace_hex: str, approval: ApprovalRequest) -> str:
    kwargs = {"slug": project.slug, "trace_id": trace_hex, "approval_id": approval.pk}
    return reverse("run_approval_panel", kwargs=kwargs)


def rows(page: str) -> list[tuple[str, int, str, int]]:
    """(kind, index, span, depth) of each step row of the replay's tree, in order."""
    return [(kind, int(i), span, int(depth)) for kind, i, span, depth in ROW.findall(page)]


def figure(page: str) -> dict[str, Any]:
    return json.loads(page.split('id="waterfall-data" type="application/json">')[1].split("</script>")[0])


def page_of(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


@pytest.fixture
def run() -> AgentTrace:
    return AgentTrace(llm_calls=2)


# --- placement ---------------------------------------------------------------------------------------


def test_a_request_is_a_child_of_the_tool_step_that_asked(personas, run):
    make_run(personas.project, run)
    tool = run.spans[TOOL].span_id.hex()
    approval = ask(personas.project, run.trace_hex, span=tool, created=at(run, 5.2))
    page = page_of(client_for(personas.engineer), replay_url(personas.project, run.trace_hex))
    assert rows(page) == [
        ("agent", 0, run.spans[ROOT].span_id.hex(), 0),
        ("llm", 1, run.spans[CHAT0].span_id.hex(), 1),
        ("llm", 2, run.spans[CHAT1].span_id.hex(), 1),
        ("tool", 3, tool, 1),
        ("approval", 4, f"approval-{approval.pk}", 2),
    ]
    assert f'data-panel="{panel_url(personas.project, run.trace_hex, approval)}"' in page
    assert 'data-count="5"' in page


def test_without_its_span_a_request_is_under_the_root_at_its_time(personas, run):
    make_run(personas.project, run)
    # It names a span that never arrived, and was asked between the two LLM calls.
    approval = ask(personas.project, run.trace_hex, span="00000000000000aa", created=at(run, 2.5))
    page = page_of(client_for(personas.engineer), replay_url(personas.project, run.trace_hex))
    assert [(kind, span, depth) for kind, _, span, depth in rows(page)] == [
        ("agent", run.spans[ROOT].span_id.hex(), 0),
        ("llm", run.spans[CHAT0].span_id.hex(), 1),
        ("approval", f"approval-{approval.pk}", 1),
        ("llm", run.spans[CHAT1].span_id.hex(), 1),
        ("tool", run.spans[TOOL].span_id.hex(), 1),
    ]


def test_requests_of_one_step_are_in_the_order_they_were_asked(personas, run):
    make_run(personas.project, run)
    root = run.spans[ROOT].span_id.hex()
    later = ask(personas.project, run.trace_hex, created=at(run, 6.5), action="send_email")
    earlier = ask(personas.project, run.trace_hex, span=root, created=at(run, 0.5), action="delete_record")
    page = page_of(client_for(personas.engineer), replay_url(personas.project, run.trace_hex))
    found = [(span, depth) for _, _, span, depth in rows(page)]
    assert found[1] == (f"approval-{earlier.pk}", 1)  # before the first LLM call (1 s)
    assert found[-1] == (f"approval-{later.pk}", 1)  # after the tool call (5 s), under the root: no span named


def test_a_request_that_arrives_before_any_span_shows_then_finds_its_step(personas, run):
    """The agent waits inside the tool span, which is exported only when it ends: the request comes
    first. The run page shows it alone (not 404); once the spans arrive it is under its step."""
    tool = run.spans[TOOL].span_id.hex()
    approval = ask(personas.project, run.trace_hex, span=tool, created=at(run, 5.2))
    client = client_for(personas.engineer)
    page = page_of(client, replay_url(personas.project, run.trace_hex))
    assert rows(page) == [("approval", 0, f"approval-{approval.pk}", 0)]
    assert "No span of this run has arrived yet" in page
    assert "Compare with" not in page  # nothing to compare before a span is stored
    panel = html.unescape(page_of(client, panel_url(personas.project, run.trace_hex, approval)))
    assert "step 1 of 1" in panel and f'step <span class="mono">{tool}</span> (not arrived yet)' in panel
    export = client.get(reverse("run_export", kwargs={"slug": personas.project.slug, "trace_id": run.trace_hex}))
    assert export.status_code == 200
    assert export.json()["steps"] == [] and [a["id"] for a in export.json()["approvals"]] == [approval.pk]

    make_run(personas.project, run)
    page = page_of(client, replay_url(personas.project, run.trace_hex))
    assert rows(page)[-1] == ("approval", 4, f"approval-{approval.pk}", 2)
    assert "No span of this run has arrived yet" not in page
    panel = html.unescape(page_of(client, panel_url(personas.project, run.trace_hex, approval)))
    assert "step 5 of 5" in panel and "execute_tool lookup_order" in panel


def test_a_trace_with_neither_run_nor_request_is_still_404(personas, run):
    assert client_for(personas.engineer).get(replay_url(personas.project, run.trace_hex)).status_code == 404


def test_the_step_panels_of_spans_count_the_approval_steps(personas, run):
    make_run(personas.project, run)
    ask(personas.project, run.trace_hex, span=run.spans[CHAT0].span_id.hex(), created=at(run, 1.5))
    span = run.spans[TOOL].span_id.hex()
    url = reverse("run_step_panel", kwargs={"slug": personas.project.slug, "trace_id": run.trace_hex, "span_id": span})
    panel = page_of(client_for(personas.engineer), url)
    assert 'data-index="4"' in panel and "step 5 of 5" in panel


# --- what the step says ------------------------------------------------------------------------------


def test_the_panel_shows_state_decisions_and_how_long_the_agent_waited(personas, run):
    make_run(personas.project, run)
    approval = ask(personas.project, run.trace_hex, span=run.spans[TOOL].span_id.hex(), required_approvals=2)
    decide(personas.project, approval, personas.reviewer, comment="amount checked")
    decide(personas.project, approval, personas.admin, comment="ok by policy")
    approval.refresh_from_db()
    assert approval.state == "approved" and approval.decided_at is not None
    ApprovalRequest.objects.filter(pk=approval.pk).update(created_at=approval.decided_at - timedelta(seconds=95))
    client = client_for(personas.viewer)
    panel = html.unescape(page_of(client, panel_url(personas.project, run.trace_hex, approval)))
    assert "approved" in panel and "2 of 2 needed" in panel
    assert "Agent waited" in panel and "1 min 35 s" in panel
    reviewer_at = panel.index(personas.reviewer.email)
    assert reviewer_at < panel.index(personas.admin.email)  # in the order they decided
    assert "amount checked" in panel and "ok by policy" in panel
    assert panel.count("approve</span>") == 2
    assert f'href="/p/{personas.project.slug}/approvals/{approval.pk}/"' in panel
    page = page_of(client, replay_url(personas.project, run.trace_hex))
    assert "1 min 35 s</span>" in page  # the tree row's duration is the wait


def test_a_pending_request_is_waiting_and_its_bar_runs_to_now(personas, run):
    make_run(personas.project, run)
    asked = timezone.now() - timedelta(minutes=3)
    approval = ask(personas.project, run.trace_hex, span=run.spans[TOOL].span_id.hex(), created=asked)
    client = client_for(personas.engineer)
    page = page_of(client, replay_url(personas.project, run.trace_hex))
    assert "waiting 3 min" in page and "1 waiting" in page
    bar = figure(page)["data"][0]
    assert bar["text"][4] == "APPROVAL refund (pending)"
    # From its asking (offset from the run's start) to at least now.
    run_start = at(run, 0)
    assert bar["base"][4] == pytest.approx((asked - run_start).total_seconds() * 1000, abs=1)
    assert bar["x"][4] >= 180_000
    panel = html.unescape(page_of(client, panel_url(personas.project, run.trace_hex, approval)))
    assert "waiting, 3 min" in panel and "No decision yet" in panel and "Expires" in panel


def test_a_decided_requests_bar_ends_at_the_decision(personas, run):
    make_run(personas.project, run)
    approval = ask(personas.project, run.trace_hex, span=run.spans[TOOL].span_id.hex())
    decide(personas.project, approval, personas.reviewer, "reject", comment="too much")
    approval.refresh_from_db()
    assert approval.decided_at is not None
    ApprovalRequest.objects.filter(pk=approval.pk).update(created_at=approval.decided_at - timedelta(seconds=12))
    bar = figure(page_of(client_for(personas.engineer), replay_url(personas.project, run.trace_hex)))["data"][0]
    assert bar["x"][4] == pytest.approx(12_000)
    assert bar["text"][4] == "APPROVAL refund (rejected)"


def test_a_rejected_or_expired_request_is_not_the_first_error(personas, run):
    make_run(personas.project, run)
    rejected = ask(personas.project, run.trace_hex, span=run.spans[TOOL].span_id.hex())
    decide(personas.project, rejected, personas.reviewer, "reject", comment="no")
    expired = ask(personas.project, run.trace_hex)
    ApprovalRequest.objects.filter(pk=expired.pk).update(state="expired", decided_at=timezone.now())
    page = page_of(client_for(personas.engineer), replay_url(personas.project, run.trace_hex))
    assert len([r for r in rows(page) if r[0] == "approval"]) == 2
    assert "data-first-error" not in page and "is-error" not in page


def test_payloads_arguments_and_edits_only_for_those_who_may_see_payloads(personas, run):
    make_run(personas.project, run)
    approval = ask(
        personas.project,
        run.trace_hex,
        span=run.spans[TOOL].span_id.hex(),
        arguments={"order": "A-100", "amount": 73400191},
        summary="Refund the customer in full",
    )
    decide(
        personas.project,
        approval,
        personas.reviewer,
        comment="halved",
        arguments={"order": "A-100", "amount": 36700095},
    )
    url = panel_url(personas.project, run.trace_hex, approval)

    engineer = html.unescape(page_of(client_for(personas.engineer), url))
    assert '"amount": 73400191' in engineer and '"amount": 36700095' in engineer
    assert "Arguments asked" in engineer and "Arguments used (edited)" in engineer
    assert "Refund the customer in full" in engineer and "edited the arguments" in engineer

    viewer = html.unescape(page_of(client_for(personas.viewer), url))
    assert "73400191" not in viewer and "36700095" not in viewer and "Refund the customer" not in viewer
    assert "arguments and any edits are hidden" in viewer
    assert "halved" in viewer and "edited the arguments" in viewer  # who decided what stays visible

    export_url = reverse("run_export", kwargs={"slug": personas.project.slug, "trace_id": run.trace_hex})
    exported = client_for(personas.viewer).get(export_url).json()["approvals"]
    assert exported[0]["payloads_hidden"] and "arguments" not in exported[0]
    assert "73400191" not in json.dumps(exported)
    exported = client_for(personas.engineer).get(export_url).json()["approvals"]
    assert exported[0]["arguments"]["amount"] == 73400191 and exported[0]["arguments_to_use"]["amount"] == 36700095


def test_the_replay_page_reads_no_approval_arguments(personas, run):
    make_run(personas.project, run)
    ask(personas.project, run.trace_hex, arguments={"secret_note": "only-in-the-panel"})
    with CaptureQueriesContext(connection) as queries:
        page = page_of(client_for(personas.engineer), replay_url(personas.project, run.trace_hex))
    assert "only-in-the-panel" not in page
    sql = [q["sql"] for q in queries.captured_queries if "approvals_approvalrequest" in q["sql"]]
    assert len(sql) == 1
    assert '"arguments"' not in sql[0] and '"final_arguments"' not in sql[0]


def test_hostile_action_comment_and_arguments_are_escaped(personas, run):
    make_run(personas.project, run)
    approval = ask(personas.project, run.trace_hex, arguments={"<b>key</b>": "</pre><script>alert(1)</script>"})
    decide(personas.project, approval, personas.reviewer, "reject", comment="<img src=x onerror=alert(2)>")
    # The API admits no such action; the database may hold one all the same.
    ApprovalRequest.objects.filter(pk=approval.pk).update(action='<script>alert(3)</script>"x')
    client = client_for(personas.engineer)
    for url in (replay_url(personas.project, run.trace_hex), panel_url(personas.project, run.trace_hex, approval)):
        raw = page_of(client, url)
        assert "<script>alert(" not in raw and "<img src=x" not in raw and "<b>key" not in raw, url
    raw = page_of(client, panel_url(personas.project, run.trace_hex, approval))
    assert "&lt;img src=x onerror=alert(2)&gt;" in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert "&lt;script&gt;alert(3)&lt;/script&gt;&quot;x" in raw
    page = page_of(client, replay_url(personas.project, run.trace_hex))
    assert figure(page)["data"][0]["text"][4] == 'APPROVAL &lt;script&gt;alert(3)&lt;/script&gt;"x (rejected)'


# --- tenancy and cost --------------------------------------------------------------------------------


def test_another_projects_request_with_the_same_trace_id_is_never_shown(personas, run):
    make_run(personas.project, run)
    theirs = ask(personas.other_project, run.trace_hex, span=run.spans[TOOL].span_id.hex(), action="their_refund")
    client = client_for(personas.admin)
    page = page_of(client, replay_url(personas.project, run.trace_hex))
    # No step, no panel link, and no "Approvals" line in the run's header (the navigation's Approvals
    # link is on every page).
    assert "their_refund" not in page and "<dt>Approvals</dt>" not in page
    assert rows(page) and not [row for row in rows(page) if row[0] == "approval"]
    assert client.get(panel_url(personas.project, run.trace_hex, theirs)).status_code == 404
    export = client.get(reverse("run_export", kwargs={"slug": personas.project.slug, "trace_id": run.trace_hex}))
    assert export.json()["approvals"] == []
    # Their project shows it (no run of theirs, the request alone), and none of this project's spans.
    outsider = client_for(personas.outsider)
    their_page = page_of(outsider, replay_url(personas.other_project, run.trace_hex))
    assert "their_refund" in their_page and "lookup_order" not in their_page
    assert rows(their_page) == [("approval", 0, f"approval-{theirs.pk}", 0)]
    # And this project's panel and pages stay closed to them.
    ours = ask(personas.project, run.trace_hex)
    assert outsider.get(panel_url(personas.project, run.trace_hex, ours)).status_code == 404
    assert outsider.get(replay_url(personas.project, run.trace_hex)).status_code == 404


def test_a_request_of_another_run_is_404_in_this_runs_panel(personas, run):
    make_run(personas.project, run)
    other = make_run(personas.project)
    elsewhere = ask(personas.project, other.trace_hex)
    response = client_for(personas.engineer).get(panel_url(personas.project, run.trace_hex, elsewhere))
    assert response.status_code == 404


def test_the_rest_run_detail_lists_the_requests_beside_the_tree(personas, run):
    make_run(personas.project, run)
    approval = ask(personas.project, run.trace_hex, span=run.spans[TOOL].span_id.hex())
    ask(personas.other_project, run.trace_hex)
    client = client_for(personas.viewer)
    data = client.get(f"/api/v1/projects/{personas.project.slug}/runs/{run.trace_hex}/").json()
    assert [a["id"] for a in data["approvals"]] == [approval.pk]
    assert data["approvals"][0]["span_id"] == run.spans[TOOL].span_id.hex()
    assert "arguments" not in data["approvals"][0]


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_counts_do_not_grow_with_the_requests(personas, run):
    """One query reads a run's requests for the replay, whatever their number; the panel's decisions
    cost one more, whatever theirs."""
    make_run(personas.project, run)
    other = make_run(personas.project, AgentTrace(llm_calls=2))
    first = ask(personas.project, run.trace_hex)
    ask(personas.project, other.trace_hex)
    client = client_for(personas.engineer)
    client.get(replay_url(personas.project, run.trace_hex))  # warm the session
    one = [_queries(client, replay_url(personas.project, run.trace_hex))]
    one.append(_queries(client, panel_url(personas.project, run.trace_hex, first)))
    for n in range(4):
        more = ask(personas.project, other.trace_hex, span=other.spans[TOOL].span_id.hex())
        decide(personas.project, more, personas.reviewer, "reject", comment=f"no {n}")
    decide(personas.project, first, personas.reviewer, "reject", comment="no")
    many = [_queries(client, replay_url(personas.project, other.trace_hex))]
    many.append(_queries(client, panel_url(personas.project, other.trace_hex, more)))
    assert one == many


# --- the pure part -----------------------------------------------------------------------------------


def test_wait_text():
    assert [approval_steps.wait_text(s) for s in (0, 59.9, 60, 95, 3599, 3600, 7320, 49 * 3600)] == [
        "0 s",
        "59 s",
        "1 min 0 s",
        "1 min 35 s",
        "59 min 59 s",
        "1 h 0 min",
        "2 h 2 min",
        "2 d 1 h",
    ]


def test_with_approvals_places_by_time_after_steps_that_started_together():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    steps: list[dict[str, Any]] = [
        {"span_id": "r", "parent_span_id": None},
        {"span_id": "a", "parent_span_id": "r"},
        {"span_id": "b", "parent_span_id": "r"},
    ]
    starts = [t, t + timedelta(seconds=1), t + timedelta(seconds=2)]

    def request(pk: int, asked_by: str | None) -> dict[str, Any]:
        return {"span_id": f"approval-{pk}", "approval_id": pk, "asked_by": asked_by, "parent_span_id": asked_by}

    merged = approval_steps.with_approvals(
        steps,
        starts,
        [
            (t + timedelta(seconds=1), request(2, "a")),
            (t + timedelta(seconds=1), request(1, "zz")),
            (t, request(3, None)),
        ],
        root="r",
    )
    assert [(s["span_id"], s["parent_span_id"]) for s in merged] == [
        ("r", None),
        ("approval-3", "r"),
        ("a", "r"),
        ("approval-1", "r"),  # its step never arrived: under the root; asked together with 2, lower id first
        ("approval-2", "a"),
        ("b", "r"),
    ]
    # No root stored: the top level.
    alone = approval_steps.with_approvals([], [], [(t, request(4, "a"))], root=None)
    assert alone[0]["parent_span_id"] is None
    assert approval_steps.with_approvals(steps, starts, [], root="r") is steps
