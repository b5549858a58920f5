"""The agent's side of agentops, over HTTP only: importable without Django or settings. The folder can be
copied into a project on its own: approvals.py (ask a person before acting), budgets.py (reserve before
spending) and transport.py (configuration and the HTTP call they share)."""

from .approvals import (
    Approval,
    ApprovalCancelled,
    ApprovalDenied,
    ApprovalError,
    ApprovalExpired,
    ApprovalRejected,
    ApprovalTimeout,
    ApprovalUnavailable,
    require_approval,
    requires_approval,
)
from .budgets import BudgetError, BudgetExceeded, BudgetReservation, BudgetUnavailable, budget

__all__ = [
    "Approval",
    "ApprovalCancelled",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalRejected",
    "ApprovalTimeout",
    "ApprovalUnavailable",
    "BudgetError",
    "BudgetExceeded",
    "BudgetReservation",
    "BudgetUnavailable",
    "budget",
    "require_approval",
    "requires_approval",
]
