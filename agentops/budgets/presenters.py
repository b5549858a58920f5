"""Budgets and reservations as the API shows them (JSON-able dicts)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agentops.budgets.models import Budget, Reservation
from agentops.budgets.selectors import BudgetState


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def budget_dict(budget: Budget, state: BudgetState) -> dict[str, Any]:
    return {
        "id": budget.pk,
        "scope": budget.scope,
        "limit_usd": float(budget.limit_usd),
        "limit_tokens": budget.limit_tokens,
        "window": budget.window,
        "timezone": budget.timezone,
        "soft_percent": budget.soft_percent,
        "hard": budget.hard,
        "spent_usd": float(state.spent_usd),
        "held_usd": float(state.held_usd),
        "remaining_usd": float(state.remaining_usd),
        "window_start": state.window.start.isoformat(),
        "resets_at": state.window.resets_at.isoformat() if state.window.resets_at else None,
        "created_by": budget.created_by.email if budget.created_by else None,
        "created_at": budget.created_at.isoformat(),
    }


def remaining_list(states: list[BudgetState]) -> list[dict[str, Any]]:
    return [{"budget": s.budget.pk, "scope": s.budget.scope, "remaining_usd": float(s.remaining_usd)} for s in states]


def reservation_dict(reservation: Reservation) -> dict[str, Any]:
    return {
        "id": reservation.pk,
        "state": reservation.state,
        "amount_usd": _usd(reservation.amount_usd),
        "actual_usd": _usd(reservation.actual_usd),
        "expires_at": reservation.expires_at.isoformat(),
        "run_id": reservation.run_id.hex if reservation.run_id else None,
        "idempotency_key": reservation.idempotency_key,
    }
