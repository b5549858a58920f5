"""Writes of reservations: an agent reserves before it spends, then commits or releases; the overdue expire.

- `reservation_reserve(project=, key=, data=)` -> Outcome. `data` is the agent's body (FIELDS): `scope`
  ({"agent", "bundle", "customer", "session"}: the values that apply, any left out), `estimate_usd`, or
  `model` + `max_tokens` (+ optional `input_tokens`) priced as ingest prices a step (project overrides,
  then genai-prices), `run_id` (32 hex digits, optional), `idempotency_key` (optional, at most 200
  characters) and `ttl` (seconds, default DEFAULT_TTL). Refused when `run_id` names a run at its
  agent's step cap (agentops.budgets.caps_selectors; the reason names the cap and the run's value).
  Otherwise allowed when every applicable hard budget can take the amount (budget_state: spent + held + amount <= limit, and the same for tokens where a budget
  limits them); the reservation is then held until `expires_at`. Refused: nothing is held, and a
  refused record is kept only when the call named an idempotency_key, so that its retry answers the
  same. A retry with a known idempotency_key returns the first answer (the remaining amounts as of
  now); a key used by another ingest key of the project is a conflict.
- `reservation_commit(key=, reservation_id=, actual_usd=)`: held or expired -> committed. Again with
  the same actual (or none) answers as before; with another, a conflict. Released or refused: conflict.
- `reservation_release(key=, reservation_id=)`: held -> released; released or expired: as it is.
- `reservations_expire(now, limit=)`: held past their expiry -> expired, in a bounded batch.

Concurrency, which is the point: the reserve judges and inserts in one short transaction that first
locks the applicable budget rows (SELECT ... FOR UPDATE, in id order, so two reserves sharing budgets
never deadlock). Whoever holds a budget's lock sees every reservation committed before it, so N agents
reserving at once can never take a hard budget past its limit. Traced spend (the runs) does not move with
reservations and is read before the locks are taken; only the reservations' sums are read under them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agentops.alerts.evaluation.sums import Totals
from agentops.budgets import selectors
from agentops.budgets.caps_selectors import run_at_cap
from agentops.budgets.errors import BudgetConflict, BudgetInvalid, BudgetNotFound
from agentops.budgets.models import Budget, Reservation
from agentops.budgets.selectors import RESERVATION_SCOPES, BudgetState, budget_state
from agentops.budgets.services import MAX_SCOPE_VALUE, soft_alert, usd
from agentops.tenancy.models import IngestKey, Project
from traces.ingest.pricing import price_usage
from traces.selectors import ingest_config

FIELDS = frozenset({"scope", "estimate_usd", "model", "max_tokens", "input_tokens", "run_id", "idempotency_key", "ttl"})
DEFAULT_TTL = 600
MAX_TTL = 24 * 3600
MAX_TOKENS = 10_000_000
EXPIRE_BATCH = 1000
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class Outcome:
    allowed: bool
    reservation: Reservation | None
    states: list[BudgetState] = field(default_factory=list)
    reason: str | None = None
    created: bool = True


@dataclass(frozen=True, slots=True)
class _Ask:
    scope: dict[str, str]
    amount: Decimal
    tokens: int
    run_id: uuid.UUID | None
    idempotency_key: str | None
    ttl: int


def _tokens(data: dict[str, Any], name: str, required: bool) -> int:
    value = data.get(name)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_TOKENS:
        raise BudgetInvalid(name, f"must be a whole number of tokens from 1 to {MAX_TOKENS:,}")
    return value


def _amount(project: Project, data: dict[str, Any], now: datetime) -> tuple[Decimal, int]:
    if "estimate_usd" in data:
        if "model" in data or "max_tokens" in data:
            raise BudgetInvalid("estimate_usd", "give estimate_usd or model and max_tokens, not both")
        return usd(data["estimate_usd"], "estimate_usd", positive=False), 0
    if "model" not in data:
        raise BudgetInvalid("estimate_usd", "is required (or model and max_tokens)")
    model = data["model"]
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise BudgetInvalid("model", "must be a model name of at most 200 characters")
    output_tokens = _tokens(data, "max_tokens", required=True)
    input_tokens = _tokens(data, "input_tokens", required=False)
    priced = price_usage(
        model=model,
        provider=None,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        at=now,
        overrides=ingest_config(project.pk).price_overrides,
    )
    if not priced.priced or priced.cost_usd is None:
        raise BudgetInvalid("model", f"cannot be priced ({priced.reason}): send estimate_usd instead")
    return priced.cost_usd, input_tokens + output_tokens


def _ask(project: Project, data: Any, now: datetime) -> _Ask:
    if not isinstance(data, dict):
        raise BudgetInvalid("body", "must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise BudgetInvalid(unknown[0], "is not a field of a reservation")
    raw_scope = data.get("scope", {})
    if raw_scope is None:
        raw_scope = {}
    if not isinstance(raw_scope, dict):
        raise BudgetInvalid("scope", f"must be an object with any of {', '.join(RESERVATION_SCOPES)}")
    scope: dict[str, str] = {}
    for name, value in raw_scope.items():
        if name not in RESERVATION_SCOPES:
            raise BudgetInvalid("scope", f"{name!r} is not one of {', '.join(RESERVATION_SCOPES)}")
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > MAX_SCOPE_VALUE:
            raise BudgetInvalid("scope", f"{name} must be a string of at most {MAX_SCOPE_VALUE} characters")
        scope[name] = value
    amount, tokens = _amount(project, data, now)
    run_id = data.get("run_id")
    if run_id is not None and (not isinstance(run_id, str) or not _HEX32.match(run_id)):
        raise BudgetInvalid("run_id", "must be the run's trace id: 32 lower-case hex digits")
    key = data.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
        raise BudgetInvalid("idempotency_key", "must be a string of 1 to 200 characters")
    ttl = data.get("ttl", DEFAULT_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL:
        raise BudgetInvalid("ttl", f"must be a whole number of seconds from 1 to {MAX_TTL}")
    return _Ask(scope, amount, tokens, uuid.UUID(run_id) if run_id else None, key, ttl)


def _refusal(states: list[BudgetState], ask: _Ask) -> str | None:
    """Why the first hard budget that cannot take the ask refuses it; None when all can."""
    for state in states:
        budget = state.budget
        if not budget.hard:
            continue
        if state.used_usd + ask.amount > budget.limit_usd:
            return (
                f"budget {budget.pk} ({_scope_text(budget)}, {budget.window}) has ${max(state.remaining_usd, Decimal(0)):.6f} "
                f"of ${budget.limit_usd:.2f} left; ${ask.amount:.6f} asked"
            )
        if budget.limit_tokens is not None and state.tokens + ask.tokens > budget.limit_tokens:
            return (
                f"budget {budget.pk} ({_scope_text(budget)}, {budget.window}) has no room for {ask.tokens} more tokens"
            )
    return None


def _scope_text(budget: Budget) -> str:
    return ", ".join(f"{k} {v}" for k, v in budget.scope.items()) or "project"


def _replay(existing: Reservation, key: IngestKey, now: datetime) -> Outcome:
    """The answer to a retry of an earlier reserve with the same idempotency_key."""
    if existing.created_by_key_id != key.pk:
        raise BudgetConflict("idempotency_key", "is in use by another reservation of the project")
    scope = {name: getattr(existing, name) for name in RESERVATION_SCOPES if getattr(existing, name)}
    states = [budget_state(b, now) for b in selectors.applicable_budgets(existing.project, scope)]
    if existing.state == Reservation.State.REFUSED:
        return Outcome(False, None, states, existing.reason, created=False)
    return Outcome(True, existing, states, None, created=False)


def reservation_reserve(*, project: Project, key: IngestKey, data: Any) -> Outcome:
    now = timezone.now()
    ask = _ask(project, data, now)
    if ask.idempotency_key is not None:
        existing = selectors.reservation_by_idempotency_key(project, ask.idempotency_key)
        if existing is not None:
            return _replay(existing, key, now)
    # A run at its agent's step cap may take no more, whatever the budgets say (read before any lock:
    # a run's values move with ingest, not with reservations).
    at_cap = run_at_cap(project.pk, ask.run_id) if ask.run_id is not None else None
    # Runs' spend, read before any lock (see the module docstring): reservations do not move it.
    traced: dict[int, Totals] = {}
    for budget in selectors.applicable_budgets(project, ask.scope):
        traced[budget.pk] = selectors.traced(budget, selectors.budget_window(budget, now), now)
    try:
        with transaction.atomic():
            outcome = _judge(project, key, ask, traced, now, at_cap.reason if at_cap is not None else None)
    except IntegrityError:
        # A concurrent retry with the same idempotency_key (and other budgets) stored its answer first.
        assert ask.idempotency_key is not None
        existing = selectors.reservation_by_idempotency_key(project, ask.idempotency_key)
        if existing is None:
            raise
        return _replay(existing, key, now)
    return outcome


def _judge(
    project: Project, key: IngestKey, ask: _Ask, traced: dict[int, Totals], now: datetime, capped: str | None
) -> Outcome:
    budgets = list(selectors.applicable_budgets(project, ask.scope).select_for_update())
    if ask.idempotency_key is not None:
        # Under the locks: a retry that raced this one through the same budgets has committed by now.
        existing = selectors.reservation_by_idempotency_key(project, ask.idempotency_key)
        if existing is not None:
            return _replay(existing, key, now)
    states = [budget_state(b, now, traced.get(b.pk)) for b in budgets]
    reason = capped or _refusal(states, ask)
    reservation = Reservation(
        project=project,
        idempotency_key=ask.idempotency_key,
        amount_usd=ask.amount,
        tokens=ask.tokens,
        expires_at=now + timedelta(seconds=ask.ttl),
        run_id=ask.run_id,
        created_by_key=key,
        **{name: ask.scope.get(name, "") for name in RESERVATION_SCOPES},
    )
    if reason is not None:
        if ask.idempotency_key is not None:
            reservation.state, reservation.reason, reservation.settled_at = Reservation.State.REFUSED, reason, now
            reservation.amount_usd, reservation.tokens = Decimal(0), 0
            reservation.save()
        return Outcome(False, None, states, reason)
    reservation.save()
    after = [
        BudgetState(s.budget, s.window, s.traced_usd, s.committed_usd, s.held_usd + ask.amount, s.tokens + ask.tokens)
        for s in states
    ]
    for state in after:
        soft_alert(state, now)
    return Outcome(True, reservation, after, None)


def _own(key: IngestKey, reservation_id: int) -> Reservation:
    reservation = (
        Reservation.objects.select_for_update()
        .filter(project_id=key.project_id, created_by_key=key, pk=reservation_id)
        .first()
    )
    if reservation is None:
        raise BudgetNotFound("reservation", "no such reservation")
    return reservation


def reservation_commit(*, key: IngestKey, reservation_id: int, actual_usd: Any = None) -> Reservation:
    actual = None if actual_usd is None else usd(actual_usd, "actual_usd", positive=False)
    now = timezone.now()
    with transaction.atomic():
        reservation = _own(key, reservation_id)
        if reservation.state == Reservation.State.COMMITTED:
            if actual is not None and actual != reservation.actual_usd:
                raise BudgetConflict("actual_usd", f"the reservation was committed with {reservation.actual_usd}")
            return reservation
        if reservation.state not in (Reservation.State.HELD, Reservation.State.EXPIRED):
            raise BudgetConflict("state", f"the reservation is {reservation.state}")
        reservation.state, reservation.actual_usd, reservation.settled_at = Reservation.State.COMMITTED, actual, now
        reservation.save(update_fields=["state", "actual_usd", "settled_at"])
    if actual is not None and actual > reservation.amount_usd:
        # More was spent than held: a soft percent may have been reached without a reserve to see it.
        scope = {name: getattr(reservation, name) for name in RESERVATION_SCOPES if getattr(reservation, name)}
        for budget in selectors.applicable_budgets(reservation.project, scope):
            soft_alert(budget_state(budget, now), now)
    return reservation


def reservation_release(*, key: IngestKey, reservation_id: int) -> Reservation:
    with transaction.atomic():
        reservation = _own(key, reservation_id)
        if reservation.state in (Reservation.State.RELEASED, Reservation.State.EXPIRED):
            return reservation
        if reservation.state != Reservation.State.HELD:
            raise BudgetConflict("state", f"the reservation is {reservation.state}")
        reservation.state, reservation.settled_at = Reservation.State.RELEASED, timezone.now()
        reservation.save(update_fields=["state", "settled_at"])
    return reservation


_EXPIRE_SQL = """
UPDATE budgets_reservation SET state = 'expired', settled_at = %(now)s
WHERE id IN (
    SELECT id FROM budgets_reservation
    WHERE state = 'held' AND expires_at <= %(now)s
    ORDER BY expires_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
"""


def reservations_expire(now: datetime | None = None, *, limit: int = EXPIRE_BATCH) -> int:
    """Mark at most `limit` held reservations past their expiry expired (the longest overdue first), in
    one statement; rows a commit or release holds are skipped. Returns how many. An expired reservation
    counted nothing already (held ones count only until expires_at): this keeps the table honest."""
    with connection.cursor() as cursor:
        cursor.execute(_EXPIRE_SQL, {"now": now or timezone.now(), "limit": limit})
        return cursor.rowcount
