"""A request to raise a budget's hard limit: an approval request made as the user, which raises the
limit when a reviewer approves it (through the inbox page or the API), and changes nothing when it is
rejected, expires, or was made by an agent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from agentops.approvals.models import ApprovalRequest
from agentops.approvals.services import ApprovalConflict, approval_decide, approval_request_create, approvals_expire
from agentops.budgets import services
from agentops.budgets.errors import BudgetInvalid
from agentops.budgets.models import Budget
from agentops.budgets.raise_requests import ACTION, raise_request_create
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import api_token_create, ingest_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget(personas):
    data = {"scope": {"customer": "acme"}, "limit_usd": 100, "window": "month"}
    return services.budget_create(project=personas.project, data=data, user=personas.admin)


def _limit(budget):
    return Budget.objects.get(pk=budget.pk).limit_usd


def _ask(budget, user, to="250", reason="Black Friday traffic"):
    return raise_request_create(budget=budget, user=user, to_usd=to, reason=reason)


def test_a_viewer_asks_on_the_page_and_a_reviewer_approves_in_the_inbox(client, personas, budget):
    client.force_login(personas.viewer)
    response = client.post(
        f"/p/{personas.project.slug}/budgets/{budget.pk}/raise/", {"to_usd": "250", "reason": "Black Friday"}
    )
    approval = ApprovalRequest.objects.get(project=personas.project)
    assert response.status_code == 302 and response["Location"].endswith(f"/approvals/{approval.pk}/")
    assert approval.action == ACTION and approval.state == "pending" and approval.risk == "high"  # 2.5x
    assert approval.created_by_user == personas.viewer
    assert approval.arguments == {
        "budget": budget.pk,
        "scope": {"customer": "acme"},
        "window": "month",
        "from": 100.0,
        "to": 250.0,
        "reason": "Black Friday",
    }
    assert _limit(budget) == 100  # asking changes nothing
    inbox = client.get(f"/p/{personas.project.slug}/approvals/")
    assert f'id="approval-{approval.pk}"' in inbox.content.decode() and ">budget.raise<" in inbox.content.decode()

    client.force_login(personas.reviewer)
    decided = client.post(
        f"/p/{personas.project.slug}/approvals/{approval.pk}/decide/", {"decision": "approve", "from": "detail"}
    )
    assert decided.status_code == 302
    assert _limit(budget) == Decimal(250)
    event = AuditEvent.objects.get(project=personas.project, action="budget.raise")
    after = event.after
    assert after is not None
    assert event.actor_label == personas.reviewer.email
    assert event.before == {"limit_usd": "100.000000"} and after["limit_usd"] == "250.000000"
    assert after["requested_by"] == personas.viewer.email
    assert after["approved_by"] == [personas.reviewer.email]
    assert after["approval"] == approval.pk and after["raised"] is True
    assert AuditEvent.objects.filter(project=personas.project, action="budget.update").count() == 1


def test_an_approval_through_the_api_with_an_edited_amount_grants_the_edit(personas, budget):
    approval = _ask(budget, personas.engineer, to="150")
    token = api_token_create(user=personas.admin).secret
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        f"/api/v1/projects/{personas.project.slug}/approvals/{approval.pk}/decision/",
        {"decision": "approve", "arguments": {**approval.arguments, "to": 120, "budget": 999999}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert _limit(budget) == Decimal(120)  # the edited amount, on the budget asked about (not the edit's id)


@pytest.mark.parametrize("how", ["reject", "expire"])
def test_rejected_or_expired_changes_nothing(personas, budget, how):
    approval = _ask(budget, personas.viewer)
    if how == "reject":
        approval_decide(
            project=personas.project,
            approval_id=approval.pk,
            reviewer=personas.reviewer,
            decision="reject",
            comment="not this month",
        )
    else:
        assert approvals_expire(timezone.now() + timedelta(days=31))["expired"] == 1
    approval.refresh_from_db()
    assert approval.state == ("rejected" if how == "reject" else "expired")
    assert _limit(budget) == 100
    assert not AuditEvent.objects.filter(action__in=["budget.raise", "budget.update"]).exists()


def test_nobody_approves_their_own_raise(personas, budget):
    approval = _ask(budget, personas.admin)
    with pytest.raises(Exception, match="nobody decides a request they created"):
        approval_decide(project=personas.project, approval_id=approval.pk, reviewer=personas.admin, decision="approve")
    assert _limit(budget) == 100


def test_a_request_an_agent_made_with_the_action_name_raises_nothing(personas, budget):
    key = ingest_key_create(project=personas.project).key
    data = {"action": ACTION, "arguments": {"budget": budget.pk, "to": 10_000}}
    approval, _ = approval_request_create(project=personas.project, data=data, key=key)
    approval_decide(project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve")
    assert _limit(budget) == 100


def test_a_budget_deleted_while_waiting_cannot_be_approved_and_a_higher_limit_stays(personas, budget):
    approval = _ask(budget, personas.viewer)
    services.budget_delete(budget=budget, user=personas.admin)
    with pytest.raises(ApprovalConflict):
        approval_decide(
            project=personas.project, approval_id=approval.pk, reviewer=personas.reviewer, decision="approve"
        )
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "pending"  # the decision rolled back

    other = services.budget_create(
        project=personas.project, data={"limit_usd": 10, "window": "day"}, user=personas.admin
    )
    asked = _ask(other, personas.viewer, to="20")
    services.budget_update(budget=other, data={"limit_usd": 50}, user=personas.admin)
    approval_decide(project=personas.project, approval_id=asked.pk, reviewer=personas.reviewer, decision="approve")
    assert _limit(other) == 50  # a raise never lowers
    assert (AuditEvent.objects.get(action="budget.raise").after or {})["raised"] is False


@pytest.mark.parametrize(
    ("to", "reason", "field"),
    [("100", "why", "to_usd"), ("50", "why", "to_usd"), ("abc", "why", "to_usd"), ("200", "  ", "reason")],
)
def test_a_bad_request_is_refused_naming_the_field(personas, budget, to, reason, field):
    with pytest.raises(BudgetInvalid) as caught:
        _ask(budget, personas.viewer, to=to, reason=reason)
    assert caught.value.field == field
    assert not ApprovalRequest.objects.exists()


def test_the_raise_form_shows_errors_beside_the_field_and_another_projects_budget_is_404(client, personas, budget):
    client.force_login(personas.viewer)
    url = f"/p/{personas.project.slug}/budgets/{budget.pk}/raise/"
    response = client.post(url, {"to_usd": "90", "reason": "more"})
    assert response.status_code == 400
    assert "must be above the current limit" in response.content.decode()
    other = services.budget_create(
        project=personas.other_project, data={"limit_usd": 1, "window": "day"}, user=personas.outsider
    )
    assert client.get(f"/p/{personas.project.slug}/budgets/{other.pk}/raise/").status_code == 404
    client.force_login(personas.outsider)
    assert client.post(url, {"to_usd": "500", "reason": "x"}).status_code == 404
    assert not ApprovalRequest.objects.exists()
