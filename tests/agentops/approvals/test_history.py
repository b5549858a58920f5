"""The approval history: who sees it, what it shows (escaped), its filters and pages, the figures
computed from known data, the reviewers' API list with the same filters, and the dashboard's card."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentops.approvals import history, services
from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.tenancy.roles import Role
from agentops.tenancy.services import api_token_create, ingest_key_create
from tests.factories import make_member

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script>"


def _decided(project, reviewer, *, action="refund", state="approved", wait=10.0, ago=timedelta(days=1), **fields):
    """A request of `project` that was `state` `wait` seconds after it was asked, `ago` ago."""
    key = ingest_key_create(project=project).key
    data = {"action": action, "arguments": {"n": 1}, **fields}
    approval, _ = services.approval_request_create(project=project, data=data, key=key)
    if state in ("approved", "rejected"):
        decision = "approve" if state == "approved" else "reject"
        services.approval_decide(
            project=project, approval_id=approval.pk, reviewer=reviewer, decision=decision, comment=f"{decision}d"
        )
    created = timezone.now() - ago
    decided = created + timedelta(seconds=wait)
    ApprovalRequest.objects.filter(pk=approval.pk).update(state=state, created_at=created, decided_at=decided)
    ApprovalDecision.objects.filter(request=approval).update(at=decided)
    return ApprovalRequest.objects.get(pk=approval.pk)


def _page(user, project, **params):
    client = Client()
    client.force_login(user)
    return client.get(f"/p/{project.slug}/approvals/history/?{urlencode(params)}")


def _ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'id="approval-(\d+)"', response.content.decode())]


def test_every_role_reads_the_history_and_an_outsider_gets_404(personas):
    approval = _decided(personas.project, personas.reviewer)
    for name, user in personas.by_role().items():
        response = _page(user, personas.project)
        if name == "outsider":
            assert response.status_code == 404
        else:
            assert response.status_code == 200, name
            assert _ids(response) == [approval.pk]
    anonymous = Client().get(f"/p/{personas.project.slug}/approvals/history/")
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]


def test_another_projects_requests_never_show(personas):
    _decided(personas.other_project, personas.outsider, action="secret_of_b")
    mine = _decided(personas.project, personas.reviewer)
    response = _page(personas.admin, personas.project)
    assert _ids(response) == [mine.pk] and "secret_of_b" not in response.content.decode()


def test_pending_requests_are_not_history(personas):
    key = ingest_key_create(project=personas.project).key
    services.approval_request_create(project=personas.project, data={"action": "waiting", "arguments": {}}, key=key)
    assert _ids(_page(personas.admin, personas.project)) == []


def test_hostile_values_are_escaped_and_the_summary_needs_the_payload_permission(personas):
    approval = _decided(personas.project, personas.reviewer, state="rejected", summary=f"sum {HOSTILE}")
    ApprovalRequest.objects.filter(pk=approval.pk).update(action=f"act{HOSTILE}")  # stored by other means
    ApprovalDecision.objects.filter(request=approval).update(comment=f"because {HOSTILE}")
    engineer = _page(personas.engineer, personas.project).content.decode()
    assert HOSTILE not in engineer
    assert "act&lt;script&gt;" in engineer and "because &lt;script&gt;" in engineer and "sum &lt;script&gt;" in engineer
    viewer = _page(personas.viewer, personas.project).content.decode()
    assert HOSTILE not in viewer and "because &lt;script&gt;" in viewer and "sum &lt;" not in viewer


def test_filters_by_action_prefix_reviewer_state_and_time(personas):
    other = make_member(personas.project, Role.REVIEWER, email="Second.Reviewer@example.com")
    refund = _decided(personas.project, personas.reviewer, action="refund", ago=timedelta(days=3))
    partial = _decided(personas.project, other, action="refund.partial", state="rejected", ago=timedelta(days=2))
    delete = _decided(personas.project, personas.reviewer, action="delete_record", ago=timedelta(hours=1))
    expired = _decided(personas.project, None, action="refund", state="expired", ago=timedelta(hours=2))
    project, admin = personas.project, personas.admin
    assert _ids(_page(admin, project)) == [delete.pk, expired.pk, partial.pk, refund.pk]
    assert _ids(_page(admin, project, action="refund")) == [expired.pk, partial.pk, refund.pk]
    assert _ids(_page(admin, project, action="refund.")) == [partial.pk]
    assert _ids(_page(admin, project, reviewer="second.reviewer@EXAMPLE.com")) == [partial.pk]
    assert _ids(_page(admin, project, reviewer=personas.reviewer.email)) == [delete.pk, refund.pk]
    assert _ids(_page(admin, project, state="expired")) == [expired.pk]
    since = (timezone.now() - timedelta(days=2, hours=12)).strftime("%Y-%m-%dT%H:%M")
    until = (timezone.now() - timedelta(hours=1, minutes=30)).strftime("%Y-%m-%dT%H:%M")
    assert _ids(_page(admin, project, since=since, until=until)) == [expired.pk, partial.pk]
    assert _ids(_page(admin, project, action="refund", reviewer=other.email, state="rejected")) == [partial.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "pending"}, "state"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_a_bad_filter_answers_400_naming_it(personas, params, field):
    response = _page(personas.admin, personas.project, **params)
    assert response.status_code == 400
    assert f"{field}:" in response.content.decode()


def test_pages_follow_one_another_without_overlap_at_a_constant_query_cost(personas):
    made = [
        _decided(personas.project, personas.reviewer, ago=timedelta(minutes=i + 1))
        for i in range(history.PAGE_SIZE + 5)
    ]
    first = _page(personas.admin, personas.project)
    assert _ids(first) == [a.pk for a in made[: history.PAGE_SIZE]]
    older = re.search(r'href="\?([^"]+)" id="older"', first.content.decode())
    assert older is not None
    cursor = older.group(1)
    client = Client()
    client.force_login(personas.admin)
    second = client.get(f"/p/{personas.project.slug}/approvals/history/?{cursor.replace('&amp;', '&')}")
    assert _ids(second) == [a.pk for a in made[history.PAGE_SIZE :]]
    assert 'id="older"' not in second.content.decode()
    single = _decided(personas.project, personas.admin, action="single", state="rejected", ago=timedelta(days=9))
    with CaptureQueriesContext(connection) as few:
        assert _ids(_page(personas.admin, personas.project, action="single")) == [single.pk]
    with CaptureQueriesContext(connection) as many:
        _page(personas.admin, personas.project)
    assert len(few) == len(many)


def _known_figures(personas):
    """refund: approved after 10, 20, 30 s by the reviewer, rejected after 40 s by the admin, expired
    after an hour, and cancelled (which counts nowhere); delete: approved after 100 s by the admin."""
    project, reviewer, admin = personas.project, personas.reviewer, personas.admin
    for wait in (10, 20, 30):
        _decided(project, reviewer, wait=wait)
    _decided(project, admin, state="rejected", wait=40)
    _decided(project, None, state="expired", wait=3600)
    _decided(project, None, state="cancelled", wait=5)
    _decided(project, admin, action="delete", wait=100)
    _decided(project, admin, action="old", ago=timedelta(days=40))  # outside the default window


def test_figures_per_action_and_per_reviewer_from_known_data(personas):
    _known_figures(personas)
    _decided(personas.other_project, personas.outsider, wait=1)  # another project's: never counted
    figures = history.approval_figures(personas.project)
    by_action = {r.key: r for r in figures.by_action}
    assert set(by_action) == {"refund", "delete"}
    refund = by_action["refund"]
    assert (refund.approved, refund.decided, refund.rate) == (3, 5, 0.6)
    assert refund.median_seconds == pytest.approx(25.0)  # of 10, 20, 30, 40: the expiry's hour is no decision
    assert refund.p90_seconds == pytest.approx(37.0)  # percentile_cont: 30 + 0.7 * (40 - 30)
    assert (by_action["delete"].rate, by_action["delete"].median_seconds) == (1.0, pytest.approx(100.0))
    by_reviewer = {r.key: r for r in figures.by_reviewer}
    assert set(by_reviewer) == {personas.reviewer.email, personas.admin.email}
    mine = by_reviewer[personas.reviewer.email]
    assert (mine.approved, mine.decided, mine.median_seconds) == (3, 3, pytest.approx(20.0))
    admins = by_reviewer[personas.admin.email]
    assert (admins.approved, admins.decided, admins.rate) == (1, 2, 0.5)
    assert admins.median_seconds == pytest.approx(70.0) and admins.p90_seconds == pytest.approx(94.0)
    wider = history.approval_figures(personas.project, timezone.now() - timedelta(days=60))
    assert {r.key for r in wider.by_action} == {"refund", "delete", "old"}


def test_the_figures_cost_two_queries_whatever_the_data(personas, django_assert_num_queries):
    with django_assert_num_queries(2):
        history.approval_figures(personas.project)
    _known_figures(personas)
    with django_assert_num_queries(2):
        history.approval_figures(personas.project)


def test_the_page_shows_the_figures_linking_to_the_filtered_history(personas):
    _known_figures(personas)
    body = _page(personas.viewer, personas.project).content.decode()
    assert "60%" in body and "(3/5)" in body and "25 s" in body and "37 s" in body
    assert "action=refund" in body and f"reviewer={personas.reviewer.email.replace('@', '%40')}" in body


def test_the_dashboard_has_a_card_of_the_figures(personas):
    _known_figures(personas)
    client = Client()
    client.force_login(personas.viewer)
    body = client.get(f"/p/{personas.project.slug}/dashboard/?range=30d").content.decode()
    assert 'id="approval-figures"' in body and "60%" in body
    assert f"/p/{personas.project.slug}/approvals/history/?since=" in body and "action=refund" in body


def _api(user, project, **params):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")
    return client.get(f"/api/v1/projects/{project.slug}/approvals/?{urlencode(params)}")


def test_the_api_list_takes_the_same_filters(personas):
    refund = _decided(personas.project, personas.reviewer, action="refund", ago=timedelta(days=2))
    delete = _decided(personas.project, personas.admin, action="delete", state="rejected", ago=timedelta(hours=1))
    key = ingest_key_create(project=personas.project).key
    pending, _ = services.approval_request_create(
        project=personas.project, data={"action": "refund", "arguments": {}}, key=key
    )

    def ids(**params):
        response = _api(personas.viewer, personas.project, **params)
        assert response.status_code == 200, response.json()
        return {a["id"] for a in response.json()["results"]}

    assert ids() == {refund.pk, delete.pk, pending.pk}
    assert ids(action="ref") == {refund.pk, pending.pk}
    assert ids(action="ref", state="pending") == {pending.pk}
    assert ids(reviewer=personas.admin.email.upper()) == {delete.pk}
    assert ids(since=(timezone.now() - timedelta(days=1)).date().isoformat()) == {delete.pk}
    assert ids(until=(timezone.now() - timedelta(days=1)).isoformat()) == {refund.pk}
    for params, field in (({"since": "soon"}, "since"), ({"state": "done"}, "state"), ({"until": "x"}, "until")):
        response = _api(personas.viewer, personas.project, **params)
        assert response.status_code == 400 and response.json()["field"] == field
    assert _api(personas.outsider, personas.project, action="ref").status_code == 404
