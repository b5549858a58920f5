"""Callbacks: once a request is final (approved, rejected, expired, cancelled), its decision is POSTed
to the `callback_url` its agent gave, so an agent that does not poll learns it at once.

`callback_enqueue(approval)` runs in the transaction that made the request final: the callback is an
outbox message (agentops.notify.services.enqueue_callback), so the decision and its callback commit
together or not at all, and the outbox delivers, retries with backoff and records each attempt.

What is POSTed is the request as its agent's GET shows it (presenters.approval_dict, with payloads:
the agent gave them), signed like the alert webhooks (agentops.notify.signing; header
X-Agentops-Signature) with the project's callback secret (agentops.approvals.policy), with
X-Agentops-Event "approval.<state>" and X-Agentops-Delivery (the same on every retry of one callback).
"""

from __future__ import annotations

from agentops.approvals import selectors
from agentops.approvals.models import ApprovalRequest
from agentops.approvals.presenters import approval_dict
from agentops.notify.services import enqueue_callback


def callback_enqueue(approval: ApprovalRequest) -> None:
    if not approval.callback_url or approval.state == ApprovalRequest.State.PENDING:
        return
    # Read again, with its decisions: the one just recorded is in this transaction.
    found = selectors.approval_in_project(approval.project, approval.pk)
    assert found is not None
    enqueue_callback(
        approval.project,
        f"approval.{found.state}",
        url=found.callback_url,
        body=approval_dict(found, payloads=True),
        key=f"approval-callback-{found.pk}",
    )
