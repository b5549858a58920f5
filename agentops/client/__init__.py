"""The agent's side of agentops, over HTTP only: importable without Django or settings (the whole client
is agentops/client/approvals.py, which can be copied on its own)."""

from agentops.client.approvals import (
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

__all__ = [
    "Approval",
    "ApprovalCancelled",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalRejected",
    "ApprovalTimeout",
    "ApprovalUnavailable",
    "require_approval",
    "requires_approval",
]
