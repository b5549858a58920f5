"""Writes of step caps (Admin): the most one run of an agent may take.

- `step_cap_create(project=, data=, user=)` -> StepCap. `data` is the API's body (FIELDS): `agent`
  (required: the run's agent name, at most 200 characters), and any of `max_steps`, `max_tool_calls`
  (whole numbers, at least 1), `max_tokens` (input + output tokens, at least 1) and `max_cost_usd`
  (> 0), at least one of them; null for no cap on it. One cap per agent of a project.
- `step_cap_update(cap=, data=, user=)`: the fields given, checked the same way.
- `step_cap_delete(cap=, user=)`.
A bad field raises BudgetInvalid naming it, before anything is stored; each write is an audit event of
the project, as budgets' are. What a cap does is in agentops.budgets.caps_selectors (the reserve's
refusal) and agentops.budgets.runaway (runs past it).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from agentops.alerts.rules import ensure_runaway_rule
from agentops.budgets.errors import BudgetInvalid
from agentops.budgets.models import StepCap
from agentops.budgets.services import MAX_SCOPE_VALUE, usd
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project, User

COUNTS = ("max_steps", "max_tool_calls", "max_tokens")
LIMITS = (*COUNTS, "max_cost_usd")
FIELDS = frozenset({"agent", *LIMITS})
_MAX_COUNT = {"max_steps": 2**31 - 1, "max_tool_calls": 2**31 - 1, "max_tokens": 2**63 - 1}


def _count(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_COUNT[field]:
        raise BudgetInvalid(field, "must be a whole number, at least 1, or null")
    return value


def _apply(cap: StepCap, data: Any, *, creating: bool) -> None:
    if not isinstance(data, dict):
        raise BudgetInvalid("body", "must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise BudgetInvalid(unknown[0], "is not a field of a step cap")
    if creating and "agent" not in data:
        raise BudgetInvalid("agent", "is required")
    if "agent" in data:
        agent = data["agent"]
        if not isinstance(agent, str) or not agent.strip() or len(agent) > MAX_SCOPE_VALUE:
            raise BudgetInvalid("agent", f"must be an agent name of 1 to {MAX_SCOPE_VALUE} characters")
        if StepCap.objects.filter(project_id=cap.project_id, agent=agent).exclude(pk=cap.pk).exists():
            raise BudgetInvalid("agent", "has a step cap already: change that one")
        cap.agent = agent
    for field in COUNTS:
        if field in data:
            setattr(cap, field, _count(data[field], field))
    if "max_cost_usd" in data:
        cost = data["max_cost_usd"]
        cap.max_cost_usd = None if cost is None else usd(cost, "max_cost_usd", positive=True)
    if all(getattr(cap, field) is None for field in LIMITS):
        raise BudgetInvalid("max_steps", f"give at least one of {', '.join(LIMITS)}")


def cap_view(cap: StepCap) -> dict[str, Any]:
    return {
        "agent": cap.agent,
        "max_steps": cap.max_steps,
        "max_tool_calls": cap.max_tool_calls,
        "max_tokens": cap.max_tokens,
        "max_cost_usd": None if cap.max_cost_usd is None else str(cap.max_cost_usd.normalize()),
    }


def _audit(cap: StepCap, action: str, user: User, before: dict[str, Any] | None, after: dict[str, Any] | None):
    audit_record(
        actor=user,
        action=action,
        target_type="step_cap",
        target_id=cap.pk,
        target_label=cap.agent,
        before=before,
        after=after,
        project=cap.project,
    )


@transaction.atomic
def step_cap_create(*, project: Project, data: Any, user: User) -> StepCap:
    cap = StepCap(project=project, created_by=user)
    _apply(cap, data, creating=True)
    try:
        with transaction.atomic():  # a savepoint: the same agent's cap made at the same moment
            cap.save()
    except IntegrityError:
        raise BudgetInvalid("agent", "has a step cap already: change that one") from None
    _audit(cap, "step_cap.create", user, None, cap_view(cap))
    # A run past the cap opens an alert (agentops.budgets.runaway records it, the alert rule counts it).
    ensure_runaway_rule(project)
    return cap


@transaction.atomic
def step_cap_update(*, cap: StepCap, data: Any, user: User) -> StepCap:
    locked = StepCap.objects.select_for_update().select_related("project").get(pk=cap.pk)
    before = cap_view(locked)
    _apply(locked, data, creating=False)
    locked.save()
    _audit(locked, "step_cap.update", user, before, cap_view(locked))
    return locked


@transaction.atomic
def step_cap_delete(*, cap: StepCap, user: User) -> None:
    _audit(cap, "step_cap.delete", user, cap_view(cap), None)
    cap.delete()
