"""Writes of budgets (Admin): create, update, delete; and the soft-percent alert, once per window.

- `budget_create(project=, data=, user=)` -> Budget. `data` is the API's body (FIELDS): `scope` ({} for
  the project, or one of {"agent"|"bundle"|"customer"|"session": value}), `limit_usd` (> 0),
  `limit_tokens` (optional), `window` (day, week, month or rolling:<hours>), `timezone` (IANA, default
  UTC), `soft_percent` (numbers from 1 to 99, default []), `hard` (default true). A bad field raises
  BudgetInvalid naming it, before anything is stored.
- `budget_update(budget=, data=, user=)`: the fields given, checked the same way.
- `budget_delete(budget=, user=)`.
Each is an audit event of the project.

- `soft_alert(state, now)`: when a budget's spend (held included) reaches one of its soft percents for
  the first time in its window, one "budget.soft" notification to the project's channels. The claim is
  one conditional UPDATE of the budget row, so concurrent reservations alert once; the outbox's
  idempotency key (budget, window, percent) makes a retry harmless too. A rolling window alerts a
  percent at most once per its length.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Q, Value, When

from agentops.budgets.errors import BudgetInvalid
from agentops.budgets.models import Budget, ScopeKind
from agentops.budgets.selectors import BudgetState
from agentops.budgets.windows import rolling_hours, valid_window, zone_or_none
from agentops.notify.services import enqueue
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project, User

FIELDS = frozenset({"scope", "limit_usd", "limit_tokens", "window", "timezone", "soft_percent", "hard"})
MAX_LIMIT_USD = Decimal("1e12")
MAX_SCOPE_VALUE = 200


def _number(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BudgetInvalid(field, "must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BudgetInvalid(field, "must be a number") from None
    if not number.is_finite():
        raise BudgetInvalid(field, "must be a finite number")
    return number


def usd(value: Any, field: str, *, positive: bool) -> Decimal:
    """A USD amount: > 0 (positive) or >= 0, below MAX_LIMIT_USD, kept to 10 decimal places."""
    number = _number(value, field)
    if number < 0 or (positive and number == 0) or number >= MAX_LIMIT_USD:
        low = "greater than 0" if positive else "0 or more"
        raise BudgetInvalid(field, f"must be {low} and less than {MAX_LIMIT_USD:,.0f}")
    return number.quantize(Decimal("1e-10"))


def _scope(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise BudgetInvalid(
            "scope", "must be an object: {} for the project, or one of agent, bundle, customer, session"
        )
    if not value:
        return ScopeKind.PROJECT, ""
    kinds = [k for k in ScopeKind.values if k != ScopeKind.PROJECT]
    if len(value) != 1 or next(iter(value)) not in kinds:
        raise BudgetInvalid("scope", f"must name one of {', '.join(kinds)} (or be {{}} for the project)")
    kind, name = next(iter(value.items()))
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_SCOPE_VALUE:
        raise BudgetInvalid("scope", f"{kind} must be a non-empty string of at most {MAX_SCOPE_VALUE} characters")
    return kind, name


def _soft_percent(value: Any) -> list[float]:
    if not isinstance(value, list) or not all(
        not isinstance(p, bool) and isinstance(p, int | float) and math.isfinite(p) and 1 <= p <= 99 for p in value
    ):
        raise BudgetInvalid("soft_percent", "must be a list of numbers from 1 to 99")
    return sorted({float(p) for p in value})


def _apply(budget: Budget, data: Any, *, creating: bool) -> None:
    if not isinstance(data, dict):
        raise BudgetInvalid("body", "must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise BudgetInvalid(unknown[0], "is not a field of a budget")
    if creating:
        for field in ("limit_usd", "window"):
            if field not in data:
                raise BudgetInvalid(field, "is required")
    if "scope" in data or creating:
        budget.scope_kind, budget.scope_value = _scope(data.get("scope", {}))
    if "limit_usd" in data:
        budget.limit_usd = usd(data["limit_usd"], "limit_usd", positive=True)
    if "limit_tokens" in data:
        tokens = data["limit_tokens"]
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
            raise BudgetInvalid("limit_tokens", "must be a whole number of tokens, at least 1, or null")
        budget.limit_tokens = tokens
    if "window" in data:
        if not valid_window(data["window"]):
            raise BudgetInvalid("window", "must be day, week, month or rolling:<hours> (1 to 8784 hours)")
        budget.window = data["window"]
    if "timezone" in data:
        if zone_or_none(data["timezone"]) is None:
            raise BudgetInvalid("timezone", "must be an IANA time zone name such as Europe/Berlin")
        budget.timezone = data["timezone"]
    if "soft_percent" in data:
        budget.soft_percent = _soft_percent(data["soft_percent"])
    if "hard" in data:
        if not isinstance(data["hard"], bool):
            raise BudgetInvalid("hard", "must be true or false")
        budget.hard = data["hard"]


def _view(budget: Budget) -> dict[str, Any]:
    return {
        "scope": budget.scope,
        "limit_usd": str(budget.limit_usd),
        "limit_tokens": budget.limit_tokens,
        "window": budget.window,
        "timezone": budget.timezone,
        "soft_percent": budget.soft_percent,
        "hard": budget.hard,
    }


def _audit(budget: Budget, action: str, user: User, before: dict[str, Any] | None, after: dict[str, Any] | None):
    audit_record(
        actor=user,
        action=action,
        target_type="budget",
        target_id=budget.pk,
        target_label=f"{budget.scope_kind} {budget.scope_value}".strip(),
        before=before,
        after=after,
        project=budget.project,
    )


@transaction.atomic
def budget_create(*, project: Project, data: Any, user: User) -> Budget:
    budget = Budget(project=project, created_by=user, timezone="UTC", soft_percent=[], hard=True)
    _apply(budget, data, creating=True)
    budget.save()
    _audit(budget, "budget.create", user, None, _view(budget))
    return budget


@transaction.atomic
def budget_update(*, budget: Budget, data: Any, user: User) -> Budget:
    # The reserve path holds the budget's row lock while it judges: an edit waits for it, not beside it.
    locked = Budget.objects.select_for_update().get(pk=budget.pk)
    before = _view(locked)
    _apply(locked, data, creating=False)
    if _view(locked) != before:
        locked.soft_window, locked.soft_reached = None, None  # new levels: alert them afresh
    locked.save()
    _audit(locked, "budget.update", user, before, _view(locked))
    return locked


@transaction.atomic
def budget_delete(*, budget: Budget, user: User) -> None:
    _audit(budget, "budget.delete", user, _view(budget), None)
    budget.delete()


def _alert_period(state: BudgetState, now: datetime) -> tuple[datetime, Q]:
    """The start of the period a soft percent alerts once in, and the condition that it has not yet."""
    budget = state.budget
    hours = rolling_hours(budget.window)
    if hours is None:
        start = state.window.start
        fresh = Q(soft_window__isnull=True) | ~Q(soft_window=start)
    else:
        start = now
        fresh = Q(soft_window__isnull=True) | Q(soft_window__lte=now - timedelta(hours=hours))
    return start, fresh


def soft_alert(state: BudgetState, now: datetime) -> float | None:
    """Notify the highest soft percent the budget's use reached, if not yet in this window; the percent
    notified, or None."""
    budget = state.budget
    if not budget.soft_percent or budget.limit_usd <= 0:
        return None
    percent = float(100 * state.used_usd / budget.limit_usd)
    reached = [p for p in budget.soft_percent if percent >= p]
    if not reached:
        return None
    level = max(reached)
    start, fresh = _alert_period(state, now)
    claimed = (
        Budget.objects.filter(pk=budget.pk)
        .filter(fresh | Q(soft_reached__lt=level))
        .update(
            soft_window=Case(When(fresh, then=Value(start)), default=F("soft_window")),
            soft_reached=level,
        )
    )
    if not claimed:
        return None
    scope = ", ".join(f"{k} {v}" for k, v in budget.scope.items()) or "the project"
    summary = (
        f"Budget of {scope} is at {percent:,.0f}% of ${budget.limit_usd:,.2f} ({budget.window}, soft limit {level:g}%)"
    )
    payload = {
        "summary": summary,
        "budget": {
            "id": budget.pk,
            "scope": budget.scope,
            "window": budget.window,
            "limit_usd": float(budget.limit_usd),
            "spent_usd": float(state.spent_usd),
            "held_usd": float(state.held_usd),
            "percent": percent,
            "soft_percent": level,
            "window_start": state.window.start.isoformat(),
        },
    }
    # The key names the budget's version too: an admin's change sets new levels, alerted afresh.
    version = budget.updated_at.timestamp()
    key = f"budget.soft:{budget.pk}:{version}:{start.isoformat()}:{level:g}"
    enqueue(budget.project, "budget.soft", payload, key=key)
    return level
