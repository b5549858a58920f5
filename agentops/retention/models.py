"""What a project keeps and for how long, the runs it keeps whatever that says, and the erasures done.

- RetentionPolicy: days payloads, steps and runs are kept (null: forever), payload <= step <= run, so
  that a run's metrics (its row, and the rollups, which are tables of their own) outlive its steps, and
  its steps outlive their inputs and outputs. A project without a row follows the environment's defaults
  (settings.RETENTION_*_DAYS); a new project gets a row with them when it is created.
- Pin: a run an admin keeps whatever the policy says (golden cases, live alerts and pending approvals
  keep their runs too, without a row here: agentops.retention.pins).
- Erasure: one erasure of an end user's runs (GDPR), who asked, why, and what was deleted.
- AuditAnchor: where an audit chain starts once its oldest events expired: the hash of the last one
  deleted, which the first kept event links to (agentops.tenancy.audit.verify starts from it).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from agentops.tenancy.models import Project


class RetentionPolicy(models.Model):
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="retention_policy")
    payload_days = models.PositiveIntegerField(null=True, blank=True)
    step_days = models.PositiveIntegerField(null=True, blank=True)
    run_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A step without its run, or a payload without its step, cannot be shown: the order is kept
            # here too, not only by the service that writes it.
            models.CheckConstraint(
                condition=Q(step_days__isnull=True) | Q(payload_days__isnull=False, payload_days__lte=F("step_days")),
                name="retention_payload_le_step",
            ),
            models.CheckConstraint(
                condition=Q(run_days__isnull=True) | Q(step_days__isnull=False, step_days__lte=F("run_days")),
                name="retention_step_le_run",
            ),
        ]

    def __str__(self) -> str:
        return f"retention of {self.project}"


class Pin(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    trace_id = models.UUIDField()
    pinned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="pin_project_trace")]

    def __str__(self) -> str:
        return f"pin of run {self.trace_id.hex}"


class Erasure(models.Model):
    """The end user's id is kept: it is what was asked, and the proof that it was done. Nothing else of
    theirs is (no run ids, previews or sessions): only how many rows went."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=200)
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    requested_by_label = models.CharField(max_length=254)
    runs = models.IntegerField()
    steps = models.BigIntegerField()
    log_records = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="erasure_project_recent")]

    def __str__(self) -> str:
        return f"erasure {self.pk} of {self.project_id}"


class AuditAnchor(models.Model):
    chain = models.CharField(max_length=64, unique=True)
    last_deleted_id = models.BigIntegerField()
    last_deleted_hash = models.CharField(max_length=64)
    deleted = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"anchor of {self.chain} at event {self.last_deleted_id}"


class RetentionState(models.Model):
    """How far the daily job got for a project (a named cursor, so each day reads only the new day).

    payloads_to: every step and run that started before it has had its payloads cleared (or is kept).
    runs_seen_at: when the last job started; runs changed since (a span that arrived late, of a run
    older than the cutoff) have their payloads cleared by trace id, since the time walk passed them."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="+")
    payloads_to = models.DateTimeField(null=True)
    runs_seen_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"retention state of {self.project_id}"
