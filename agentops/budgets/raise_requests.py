"""Requests to raise a budget's hard limit, decided in the approval inbox.

- `raise_request_create(budget=, user=, to_usd=, reason=)` -> ApprovalRequest. Anyone who may view
  the project may ask (the budgets page offers it): a pending request of action ACTION, created as the
  user (so its creator never decides it), with arguments {"budget": id, "scope", "window", "from",
  "to", "reason"}; high risk (announced on the project's channels) when it asks for at least twice the
  limit, medium otherwise. Raises BudgetInvalid naming `to_usd` or `reason`.
- `raise_decided(approval, reviewer)`: the approvals' decision hook (agentops.approvals.hooks,
  registered in BudgetsConfig.ready), in the decision's transaction. An approved request raises the
  limit through services.budget_update (audited as the approver's budget.update), and records a
  "budget.raise" audit event naming who asked, who approved and the request. Rejected, expired or
  cancelled: nothing changes.

What is trusted: the budget is the one the request was made for (its original arguments, which nobody
edits), never one a reviewer's edit names; a reviewer may edit "to" (the amount granted). A request an
agent made through the approvals API with this action name is not a raise request (it has no user):
the hook leaves it alone. A limit already at or above the granted amount stays (a raise never lowers
it); the audit event says so. A budget deleted while its request waited cannot be raised: approving is
refused (409) and the request can still be rejected.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from agentops.approvals.models import ApprovalDecision, ApprovalRequest, Risk
from agentops.approvals.services import ApprovalConflict, ApprovalInvalid, approval_request_create
from agentops.budgets import services
from agentops.budgets.errors import BudgetInvalid
from agentops.budgets.models import Budget
from agentops.errors import FieldError
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import User

ACTION = "budget.raise"
MAX_REASON = 400
HIGH_RISK_FACTOR = 2


def _scope_label(budget: Budget) -> str:
    return ", ".join(f"{k} {v}" for k, v in budget.scope.items()) or "the project"


@transaction.atomic
def raise_request_create(*, budget: Budget, user: User, to_usd: Any, reason: Any) -> ApprovalRequest:
    to = services.usd(to_usd, "to_usd", positive=True)
    if to <= budget.limit_usd:
        raise BudgetInvalid("to_usd", f"must be above the current limit of ${budget.limit_usd:,.2f}")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise BudgetInvalid("reason", f"is required: why, in at most {MAX_REASON} characters")
    data = {
        "action": ACTION,
        "arguments": {
            "budget": budget.pk,
            "scope": budget.scope,
            "window": budget.window,
            "from": float(budget.limit_usd),
            "to": float(to),
            "reason": reason.strip(),
        },
        "summary": f"Raise the {budget.window} budget of {_scope_label(budget)} "
        f"from ${budget.limit_usd:,.2f} to ${to:,.2f}",
        "risk": Risk.HIGH if to >= HIGH_RISK_FACTOR * budget.limit_usd else Risk.MEDIUM,
    }
    approval, _ = approval_request_create(project=budget.project, data=data, user=user)
    return approval


def _text(amount: Decimal) -> str:
    # As the budget's column keeps it (6 decimal places), whatever precision the amount arrived with.
    return str(amount.quantize(Decimal("1e-6")))


def _granted(approval: ApprovalRequest) -> Decimal:
    final = approval.final_arguments if isinstance(approval.final_arguments, dict) else approval.arguments
    try:
        return services.usd(final.get("to"), "to", positive=True)
    except FieldError as error:
        raise ApprovalInvalid("arguments", f"to {error.message}") from None


def raise_decided(approval: ApprovalRequest, reviewer: User) -> None:
    if approval.state != ApprovalRequest.State.APPROVED or approval.created_by_user_id is None:
        return
    # The budget asked about is in the original arguments, which no reviewer edits.
    budget_id = approval.arguments.get("budget") if isinstance(approval.arguments, dict) else None
    # Locked before it is read: a concurrent edit of the budget waits, so `before` is what is raised from.
    budget = None
    if isinstance(budget_id, int):
        budget = Budget.objects.select_for_update().filter(project=approval.project, pk=budget_id).first()
    if budget is None:
        raise ApprovalConflict("arguments", "the budget no longer exists: reject the request instead")
    to = _granted(approval)
    before = budget.limit_usd
    if to > before:
        budget = services.budget_update(budget=budget, data={"limit_usd": str(to)}, user=reviewer)
    approvers = list(
        approval.decisions.filter(decision=ApprovalDecision.Decision.APPROVE)
        .values_list("reviewer__email", flat=True)
        .order_by("at", "id")
    )
    audit_record(
        actor=reviewer,
        action="budget.raise",
        target_type="budget",
        target_id=budget.pk,
        target_label=f"{budget.scope_kind} {budget.scope_value}".strip(),
        before={"limit_usd": _text(before)},
        after={
            "limit_usd": _text(budget.limit_usd),
            "granted_usd": _text(to),
            "raised": to > before,
            "approval": approval.pk,
            "requested_by": approval.created_by_user.email if approval.created_by_user else None,
            "approved_by": approvers,
        },
        project=budget.project,
    )
