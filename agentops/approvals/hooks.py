"""In-process hooks on a decision: an app that asks through the inbox learns the outcome in the
decision's own transaction, so what the approval grants is applied with it or not at all.

`register(action, hook)` (from the app's AppConfig.ready) names the action its requests carry;
`decided(approval, reviewer)` runs that action's hook once the request is final (approved or
rejected). A hook may raise an ApprovalError (agentops.approvals.services) to refuse the decision: the
whole decision rolls back and the reviewer sees the error beside its field. Expiry and cancellation
change nothing a hook grants, so they call none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentops.approvals.models import ApprovalRequest
    from agentops.tenancy.models import User

Hook = Callable[["ApprovalRequest", "User"], None]
_HOOKS: dict[str, Hook] = {}


def register(action: str, hook: Hook) -> None:
    _HOOKS[action] = hook


def decided(approval: ApprovalRequest, reviewer: User) -> None:
    hook = _HOOKS.get(approval.action)
    if hook is not None:
        hook(approval, reviewer)
