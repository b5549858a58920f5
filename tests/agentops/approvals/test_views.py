"""The approval inbox pages: what each role sees and may do, deciding through the forms (plain and
htmx), the service's refusals shown beside their field, the run's context, escaping and query counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.approvals.services import approval_request_create
from agentops.tenancy import services as tenancy
from agentops.tenancy.roles import Role
from tests.factories import make_member, make_project, make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _ask(project, key=None, user=None, **data):
    body = {"action": "refund", "arguments": {"order": "ORD-1", "amount": 42}, "summary": "Refund order ORD-1"}
    body.update(data)
    if user is None and key is None:
        key = tenancy.ingest_key_create(project=project).key
    return approval_request_create(project=project, data=body, key=key, user=user)[0]


def _inbox(project):
    return reverse("approvals_inbox", kwargs={"slug": project.slug})


def _detail(approval):
    return reverse("approval_detail", kwargs={"slug": approval.project.slug, "approval_id": approval.pk})


def _decide(approval, slug=None):
    return reverse("approval_decide", kwargs={"slug": slug or approval.project.slug, "approval_id": approval.pk})


def _as(client, user):
    client.force_login(user)
    return client


# --- reading ---------------------------------------------------------------------------------------


def test_the_inbox_lists_pending_requests_most_urgent_first_or_newest_first(client, personas):
    project = personas.project
    later = _ask(project, action="send_email", expires_in=3600)
    sooner = _ask(project, action="delete_record", expires_in=600)
    decided = _ask(project, action="already_done")
    decided.state = ApprovalRequest.State.REJECTED
    decided.save()
    overdue = _ask(project, action="overdue_one")
    ApprovalRequest.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _ask(personas.other_project, action="other_tenants")

    html = _as(client, personas.reviewer).get(_inbox(project)).content.decode()
    assert html.index("delete_record") < html.index("send_email")  # the soonest expiry first
    assert "already_done" not in html and "overdue_one" not in html and "other_tenants" not in html
    assert f'href="{_inbox(project)}" class="active">Approvals</a>' in html  # the project's tab
    assert "min" in html and f'datetime="{sooner.expires_at.isoformat(timespec="seconds")}"' in html
    assert 'hx-trigger="every 2s"' in html

    newest = client.get(_inbox(project), {"order": "newest"}).content.decode()
    assert newest.index("delete_record") < newest.index("send_email")  # created last: first again
    later.expires_at = timezone.now() + timedelta(seconds=60)
    later.save()
    urgent = client.get(_inbox(project)).content.decode()
    assert urgent.index("send_email") < urgent.index("delete_record")
    assert newest.count('class="approval ') == 2


def test_a_reviewer_sees_the_arguments_summary_asker_and_approvals(client, personas):
    project = personas.project
    key = tenancy.ingest_key_create(project=project).key
    approval = _ask(project, key=key, required_approvals=2, risk="high")
    html = _as(client, personas.reviewer).get(_inbox(project)).content.decode()
    assert "Refund order ORD-1" in html
    assert "&quot;amount&quot;: 42" in html and "&quot;order&quot;: &quot;ORD-1&quot;" in html
    assert f"asked by ingest key {key.prefix}" in html
    assert "approvals 0 of 2" in html and 'class="badge risk-high"' in html
    assert f'action="{_decide(approval)}"' in html and "Approve</button>" in html and "Reject</button>" in html
    assert "Edit arguments and approve" in html


def test_a_viewer_sees_no_arguments_and_cannot_decide(client, personas):
    project = personas.project
    approval = _ask(project, arguments={"card_number": "4111-secret", "amount": 10}, summary="secret summary")
    client = _as(client, personas.viewer)
    for url in (_inbox(project), _detail(approval), reverse("approvals_inbox_all")):
        html = client.get(url).content.decode()
        assert "refund" in html, url
        assert "4111-secret" not in html and "secret summary" not in html, url
        # In the order the agent sent them.
        assert '2 arguments: <span class="mono">card_number</span>, <span class="mono">amount</span>' in html, url
        assert "Approve</button>" not in html and _decide(approval) not in html, url
    assert client.post(_decide(approval), {"decision": "approve", "from": "inbox"}).status_code == 404
    assert not ApprovalDecision.objects.exists()


def test_an_engineer_sees_arguments_but_cannot_decide(client, personas):
    approval = _ask(personas.project)
    client = _as(client, personas.engineer)
    html = client.get(_detail(approval)).content.decode()
    assert "&quot;amount&quot;: 42" in html and "Approve</button>" not in html
    assert client.post(_decide(approval), {"decision": "approve"}).status_code == 404
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "pending"


def test_outsiders_and_other_projects_ids_get_404(client, personas):
    approval = _ask(personas.project)
    theirs = _ask(personas.other_project)
    client = _as(client, personas.outsider)
    assert client.get(_inbox(personas.project)).status_code == 404
    assert client.get(_detail(approval)).status_code == 404
    assert client.post(_decide(approval), {"decision": "approve"}).status_code == 404
    # Their own request, asked for under the project's slug where they are no member: 404 too.
    assert client.get(_inbox(personas.project) + f"{theirs.pk}/").status_code == 404

    client = _as(client, personas.admin)
    other = reverse("approval_detail", kwargs={"slug": personas.project.slug, "approval_id": theirs.pk})
    assert client.get(other).status_code == 404
    assert client.post(_decide(theirs, slug=personas.project.slug), {"decision": "approve"}).status_code == 404
    assert ApprovalRequest.objects.get(pk=theirs.pk).state == "pending"


def test_the_cross_project_inbox_shows_every_project_of_the_user_in_one_query(client, personas):
    second = make_project(name="Second project")
    tenancy.membership_grant(user=personas.reviewer, project=second, role=Role.VIEWER)
    _ask(personas.project, action="in_first")
    _ask(second, action="in_second", arguments={"hidden_value": "zzz-secret"})
    _ask(personas.other_project, action="not_mine")
    client = _as(client, personas.reviewer)
    html = client.get(reverse("approvals_inbox_all")).content.decode()
    assert "in_first" in html and "in_second" in html and "not_mine" not in html
    assert personas.project.name in html and "Second project" in html
    assert "zzz-secret" not in html  # only a Viewer there: names, no values
    assert html.count("Approve</button>") == 1  # decides in the first only

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("approvals_inbox_all"), {"live": "1"}).status_code == 200
        return len(captured)

    before = queries()
    for i in range(4):
        third = make_project()
        tenancy.membership_grant(user=personas.reviewer, project=third, role=Role.REVIEWER)
        _ask(third, action=f"more_{i}")
    assert queries() == before  # one query for the requests, whatever the number of projects


def test_the_project_inbox_costs_the_same_queries_for_one_or_many_requests(client, personas):
    client = _as(client, personas.reviewer)
    _ask(personas.project)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(_inbox(personas.project)).status_code == 200
        return len(captured)

    one = queries()
    for i in range(5):
        approval = _ask(personas.project, action=f"a{i}")
        ApprovalDecision.objects.create(request=approval, reviewer=personas.admin, decision="approve")
    assert queries() == one


def test_the_live_fragment_is_the_rows_alone(client, personas):
    _ask(personas.project, action="fresh_one")
    response = _as(client, personas.viewer).get(_inbox(personas.project), {"live": "1"})
    html = response.content.decode()
    assert response.status_code == 200 and "fresh_one" in html
    assert "<html" not in html and "approval-list" not in html
    empty = _as(client, personas.viewer).get(
        reverse("approvals_inbox", kwargs={"slug": personas.other_project.slug}), {"live": "1"}
    )
    assert empty.status_code == 404


def test_hostile_action_summary_arguments_and_comments_are_escaped(client, personas):
    approval = _ask(personas.project, summary=HOSTILE, arguments={HOSTILE: HOSTILE}, required_approvals=2)
    # The service lets only a few characters into an action; a row may hold anything all the same.
    ApprovalRequest.objects.filter(pk=approval.pk).update(action=HOSTILE)
    ApprovalDecision.objects.create(request=approval, reviewer=personas.admin, decision="approve", comment=HOSTILE)
    client = _as(client, personas.reviewer)
    for url in (_inbox(personas.project), _detail(approval), reverse("approvals_inbox_all")):
        html = client.get(url).content.decode()
        assert HOSTILE not in html, url
        assert ESCAPED in html, url
        # The action, the summary, and the argument's name and value (in JSON: quotes backslashed).
        assert html.count("&lt;script&gt;alert(") >= 4, url


# --- deciding ------------------------------------------------------------------------------------------


def test_approve_without_js_redirects_back_with_a_message(client, personas):
    approval = _ask(personas.project)
    client = _as(client, personas.reviewer)
    response = client.post(_decide(approval), {"decision": "approve", "comment": "fine", "from": "inbox"})
    assert response.status_code == 302 and response["Location"] == _inbox(personas.project)
    approval.refresh_from_db()
    assert approval.state == "approved" and approval.final_arguments == approval.arguments
    assert approval.decisions.get().comment == "fine"
    html = client.get(response["Location"]).content.decode()
    assert f"Approved refund #{approval.pk}." in html and "Nothing waits for a decision" in html


def test_reject_needs_a_reason_shown_beside_the_field(client, personas):
    approval = _ask(personas.project)
    client = _as(client, personas.reviewer)
    response = client.post(_decide(approval), {"decision": "reject", "comment": " ", "from": "inbox"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'class="error field-error" role="alert">a rejection needs a reason</span>' in html
    assert html.index('name="decision" value="reject"') < html.index("a rejection needs a reason")
    assert not ApprovalDecision.objects.exists()

    plain = client.post(_decide(approval), {"decision": "reject", "comment": "", "from": "inbox"})
    assert plain.status_code == 400 and "a rejection needs a reason" in plain.content.decode()
    assert "<html" in plain.content.decode()  # the request's page, with the error

    done = client.post(_decide(approval), {"decision": "reject", "comment": "too much", "from": "inbox"}, **HTMX)
    assert done.status_code == 200
    assert f'hx-swap-oob="true">Rejected refund #{approval.pk}.</p>' in done.content.decode()
    assert 'id="approval-' not in done.content.decode()  # the row leaves
    approval.refresh_from_db()
    assert approval.state == "rejected" and approval.decisions.get().comment == "too much"


def test_edit_and_approve_records_the_edit_beside_the_original(client, personas):
    approval = _ask(personas.project)
    client = _as(client, personas.reviewer)
    edited = {"order": "ORD-1", "amount": 40}
    response = client.post(
        _decide(approval),
        {"decision": "edit", "arguments": json.dumps(edited), "comment": "cap it", "from": "detail"},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Approved refund #{approval.pk} with your edit." in html
    assert "the agent runs with these" in html and "&quot;amount&quot;: 40" in html and "&quot;amount&quot;: 42" in html
    approval.refresh_from_db()
    assert approval.state == "approved" and approval.final_arguments == edited
    assert approval.arguments == {"order": "ORD-1", "amount": 42}
    assert approval.decisions.get().arguments == edited


def test_invalid_json_is_a_clear_error_and_nothing_is_recorded(client, personas):
    approval = _ask(personas.project)
    client = _as(client, personas.reviewer)
    response = client.post(
        _decide(approval), {"decision": "edit", "arguments": '{"amount": 4', "from": "inbox"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "is not valid JSON: Expecting" in html and "(line 1, column" in html
    assert "{&quot;amount&quot;: 4</textarea>" in html  # what was typed, kept to fix
    not_object = client.post(_decide(approval), {"decision": "edit", "arguments": "[1]", "from": "inbox"}, **HTMX)
    assert not_object.status_code == 400 and "must be a JSON object" in not_object.content.decode()
    assert not ApprovalDecision.objects.exists()
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "pending"


def test_unchanged_arguments_are_no_edit(client, personas):
    approval = _ask(personas.project)
    client = _as(client, personas.reviewer)
    client.post(
        _decide(approval), {"decision": "edit", "arguments": '{"amount": 42, "order": "ORD-1"}', "from": "inbox"}
    )
    assert approval.decisions.get().arguments is None


def test_self_approval_is_refused_with_403_shown_as_an_error(client, personas):
    approval = _ask(personas.project, user=personas.reviewer)
    client = _as(client, personas.reviewer)
    html = client.get(_inbox(personas.project)).content.decode()
    assert "You asked for this one" in html and "Approve</button>" not in html
    response = client.post(_decide(approval), {"decision": "approve", "from": "inbox"}, **HTMX)
    assert response.status_code == 403
    assert (
        'class="error decide-error" role="alert">nobody decides a request they created</p>' in response.content.decode()
    )
    plain = client.post(_decide(approval), {"decision": "approve", "from": "inbox"})
    assert plain.status_code == 403 and "nobody decides a request they created" in plain.content.decode()
    assert not ApprovalDecision.objects.exists()


def test_a_second_decision_is_refused(client, personas):
    approval = _ask(personas.project)
    _as(client, personas.reviewer).post(_decide(approval), {"decision": "approve", "from": "inbox"})
    client = _as(client, personas.admin)
    response = client.post(_decide(approval), {"decision": "reject", "comment": "no", "from": "detail"}, **HTMX)
    assert response.status_code == 409
    assert "the request is approved; a decision is final" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "approved"
    assert ApprovalDecision.objects.count() == 1


def test_a_quorum_keeps_the_row_until_enough_reviewers_approve(client, personas):
    approval = _ask(personas.project, required_approvals=2)
    client = _as(client, personas.reviewer)
    first = client.post(_decide(approval), {"decision": "approve", "from": "inbox"}, **HTMX).content.decode()
    assert f'id="approval-{approval.pk}"' in first and "You approved this: 1 of 2 approvals so far" in first
    assert "Approve</button>" not in first
    again = client.post(_decide(approval), {"decision": "approve", "from": "inbox"}, **HTMX)
    assert again.status_code == 409 and "you decided this request already" in again.content.decode()
    second = _as(client, personas.admin).post(_decide(approval), {"decision": "approve", "from": "all"})
    assert second.status_code == 302 and second["Location"] == reverse("approvals_inbox_all")
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "approved"


def test_an_unknown_decision_is_refused(client, personas):
    approval = _ask(personas.project)
    response = _as(client, personas.admin).post(_decide(approval), {"decision": "maybe", "from": "elsewhere"}, **HTMX)
    assert response.status_code == 400 and "choose approve, reject, or edit and approve" in response.content.decode()
    assert not ApprovalDecision.objects.exists()


# --- the run behind a request --------------------------------------------------------------------------


def test_the_detail_links_into_the_replay_at_the_step_and_shows_the_last_messages(client, personas):
    project = personas.project
    trace = AgentTrace(llm_calls=2)
    make_run(project, trace)
    tool = trace.spans[-1]
    approval = _ask(project, trace_id=trace.trace_hex, span_id=tool.span_id.hex())
    html = _as(client, personas.reviewer).get(_detail(approval)).content.decode()
    replay = reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})
    # Tree order: the root, its two LLM calls, then the tool call that asked: player position 3.
    assert f'href="{replay}?step=3"' in html and "at the step that asked (step 4)" in html
    assert "Where is order 101?" in html and "Answer 1" in html  # the latest model call before it
    assert "Where is order 100?" not in html

    viewer = _as(client, personas.viewer).get(_detail(approval)).content.decode()
    assert f'href="{replay}?step=3"' in viewer
    assert "Where is order 101?" not in viewer and "your role does not show it" in viewer


def test_the_detail_says_when_the_trace_or_step_has_not_arrived(client, personas):
    project = personas.project
    waiting = _ask(project, trace_id="ab" * 16, span_id="cd" * 8)
    none = _ask(project)
    client = _as(client, personas.reviewer)
    assert "The run's trace" in client.get(_detail(waiting)).content.decode()
    assert "has not arrived yet" in client.get(_detail(waiting)).content.decode()
    assert "tied to no run" in client.get(_detail(none)).content.decode()

    trace = AgentTrace()
    make_run(project, trace)
    unstored = _ask(project, trace_id=trace.trace_hex, span_id="ef" * 8)
    html = client.get(_detail(unstored)).content.decode()
    replay = reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})
    assert f'href="{replay}"' in html and "the step that asked" in html and "has not arrived yet" in html


def test_another_projects_run_with_the_same_trace_id_is_not_shown(client, personas):
    trace = AgentTrace()
    make_run(personas.other_project, trace)
    approval = _ask(personas.project, trace_id=trace.trace_hex)
    html = _as(client, personas.reviewer).get(_detail(approval)).content.decode()
    assert "has not arrived yet" in html and "Where is order" not in html and "run_replay" not in html
    assert f"/runs/{trace.trace_hex}/" not in html


def test_the_detail_steps_to_the_neighbouring_waiting_requests(client, personas):
    first = _ask(personas.project, action="first_one", expires_in=100)
    middle = _ask(personas.project, action="middle_one", expires_in=200)
    last = _ask(personas.project, action="last_one", expires_in=300)
    html = _as(client, personas.reviewer).get(_detail(middle)).content.decode()
    assert f'data-previous="{_detail(first)}"' in html and f'data-next="{_detail(last)}"' in html


def test_every_member_role_opens_the_pages(client, personas):
    approval = _ask(personas.project)
    for role, user in personas.by_role().items():
        client = _as(client, user)
        expected = 404 if role == "outsider" else 200
        assert client.get(_inbox(personas.project)).status_code == expected, role
        assert client.get(_detail(approval)).status_code == expected, role
        assert client.get(reverse("approvals_inbox_all")).status_code == 200, role
    member = make_member(personas.project, Role.REVIEWER)
    assert _as(client, member).post(_decide(approval), {"decision": "approve"}).status_code == 302
