"""Approval requests: an agent asks before a risky action, reviewers decide, the agent reads the outcome.

An ApprovalRequest holds what the agent asked (the action, its original `arguments`) and, once decided,
the arguments to use (`final_arguments`: the original, or a reviewer's edit, kept beside it). Each
reviewer's say is one ApprovalDecision row (one per reviewer per request). The state moves once, from
pending to approved, rejected, expired or cancelled; agentops.approvals.services is the only writer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from agentops.tenancy.models import IngestKey, Project
from traces.fields import OrderedJSONField


class Risk(models.TextChoices):
    LOW = "low", "low"
    MEDIUM = "medium", "medium"
    HIGH = "high", "high"


class OnTimeout(models.TextChoices):
    REJECT = "reject", "reject"
    ESCALATE = "escalate", "escalate"


class ApprovalPolicy(models.Model):
    """Per-project settings of approvals; a project without a row uses the defaults of services."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="approval_policy")
    default_expires_in = models.PositiveIntegerField(default=3600)
    # Signs the decisions POSTed to a request's callback_url (agentops.notify.signing), kept in clear
    # because every delivery signs with it; minted on first use, shown to the project's admins.
    callback_secret = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"approval policy of {self.project_id}"


class ApprovalRequest(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "pending"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"
        EXPIRED = "expired", "expired"
        CANCELLED = "cancelled", "cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="approval_requests")
    action = models.CharField(max_length=200)
    # json, not jsonb (traces.fields): reviewers read the arguments in the order the agent sent them.
    arguments = OrderedJSONField(default=dict)
    # The arguments to use once approved: a reviewer's edit, or a copy of `arguments`. Null while pending.
    final_arguments = OrderedJSONField(null=True, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    risk = models.CharField(max_length=8, choices=Risk.choices, default=Risk.MEDIUM)
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001 (null: no step)
    # Null, not "", when absent: the unique constraint applies only to the keys given.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    expires_at = models.DateTimeField()
    on_timeout = models.CharField(max_length=8, choices=OnTimeout.choices, default=OnTimeout.REJECT)
    # Set when an escalation extended the expiry (once): the next expiry expires it.
    escalated_at = models.DateTimeField(null=True, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    callback_url = models.URLField(max_length=2000, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_by_key = models.ForeignKey(IngestKey, on_delete=models.SET_NULL, null=True, blank=True)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="approvalrequest_project_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(required_approvals__gte=1), name="approvalrequest_required_gte_1"),
        ]
        indexes = [
            models.Index(fields=["project", "state", "-created_at"], name="approvalrequest_project_state"),
            models.Index(fields=["state", "expires_at"], name="approvalrequest_state_expires"),
            # The requests of a run: its replay and the run list's "waiting for approval" mark.
            models.Index(fields=["project", "trace_id"], name="approvalrequest_project_trace"),
        ]

    def __str__(self) -> str:
        return f"approval {self.pk} ({self.action}, {self.state}) of {self.project_id}"


class ApprovalDecision(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "approve"
        REJECT = "reject", "reject"

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    # The reviewer's edit of the arguments (null: approved or rejected as asked), in the order written.
    arguments = OrderedJSONField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer"], name="approvaldecision_one_per_reviewer")
        ]

    def __str__(self) -> str:
        return f"{self.decision} of approval {self.request_id} by {self.reviewer_id}"
