"""Hard budgets an agent checks before it spends, and the reservations that hold money against them.

A Budget limits the spend of one scope of a project (the whole project, an agent, a bundle, an end
customer, which is a run's user id, or a session) over a window (agentops.budgets.windows). A
Reservation is an agent's pre-flight claim on every budget that applies to it: held until committed
(with the actual cost, or settled by its run's traced cost), released, or expired. How a window's spend
is counted from runs and reservations is in agentops.budgets.selectors; agentops.budgets.services is
the only writer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from agentops.tenancy.models import IngestKey, Project


class ScopeKind(models.TextChoices):
    PROJECT = "project", "project"
    AGENT = "agent", "agent"
    BUNDLE = "bundle", "bundle"
    CUSTOMER = "customer", "customer"
    SESSION = "session", "session"


class Budget(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="budgets")
    scope_kind = models.CharField(max_length=16, choices=ScopeKind.choices)
    scope_value = models.CharField(max_length=200, blank=True)  # "" for the project
    limit_usd = models.DecimalField(max_digits=20, decimal_places=6)
    limit_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    window = models.CharField(max_length=16)  # day | week | month | rolling:<hours>
    timezone = models.CharField(max_length=64, default="UTC")
    soft_percent = models.JSONField(default=list)  # ascending numbers from 1 to 99
    hard = models.BooleanField(default=True)
    # The soft percent highest alerted in the window starting at soft_window (once per window each).
    soft_window = models.DateTimeField(null=True, blank=True)
    soft_reached = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "scope_kind", "scope_value"], name="budget_project_scope")]
        constraints = [
            models.CheckConstraint(condition=Q(limit_usd__gt=0), name="budget_limit_usd_gt_0"),
            models.CheckConstraint(
                condition=Q(scope_kind="project", scope_value="") | (~Q(scope_kind="project") & ~Q(scope_value="")),
                name="budget_scope_value_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"budget {self.pk} ({self.scope_kind} {self.scope_value}) of {self.project_id}"

    @property
    def scope(self) -> dict[str, str]:
        """As the API spells it: {} for the project, else {kind: value}."""
        return {} if self.scope_kind == ScopeKind.PROJECT else {self.scope_kind: self.scope_value}


class Reservation(models.Model):
    class State(models.TextChoices):
        HELD = "held", "held"
        COMMITTED = "committed", "committed"
        RELEASED = "released", "released"
        EXPIRED = "expired", "expired"
        # Kept only for a refused reserve that named an idempotency_key, so that its retry gets the
        # same answer; it holds nothing.
        REFUSED = "refused", "refused"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="budget_reservations")
    # Null, not "", when absent: the unique constraint applies only to the keys given.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # The scope values the agent named ("" where it named none).
    agent = models.CharField(max_length=200, blank=True)
    bundle = models.CharField(max_length=200, blank=True)
    customer = models.CharField(max_length=200, blank=True)
    session = models.CharField(max_length=200, blank=True)
    amount_usd = models.DecimalField(max_digits=20, decimal_places=10)
    tokens = models.PositiveBigIntegerField(default=0)  # estimated, when priced from model + max_tokens
    state = models.CharField(max_length=16, choices=State.choices, default=State.HELD)
    reason = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField()
    actual_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    run_id = models.UUIDField(null=True, blank=True)  # the run's trace id (traces.Run.trace_id)
    created_by_key = models.ForeignKey(IngestKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="reservation_project_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(amount_usd__gte=0), name="reservation_amount_gte_0"),
        ]
        indexes = [
            # Every reserve sums what is held in its project, and the expiry job finds the overdue.
            models.Index(fields=["project", "expires_at"], name="reservation_held", condition=Q(state="held")),
            models.Index(fields=["expires_at"], name="reservation_held_expiry", condition=Q(state="held")),
            # Committed spend of a window not yet covered by traced runs.
            models.Index(
                fields=["project", "created_at"], name="reservation_committed", condition=Q(state="committed")
            ),
        ]

    def __str__(self) -> str:
        return f"reservation {self.pk} ({self.state}, ${self.amount_usd}) of {self.project_id}"


class StepCap(models.Model):
    """The most one run of an agent may take: steps, tool calls, tokens (input + output) or cost, any
    subset (null: no cap on it). A reserve naming a run at or past a cap is refused, and a run past one is
    recorded a RunawayRun (agentops.budgets.caps_selectors, agentops.budgets.runaway)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="step_caps")
    agent = models.CharField(max_length=200)  # traces.Run.agent
    max_steps = models.PositiveIntegerField(null=True, blank=True)
    max_tool_calls = models.PositiveIntegerField(null=True, blank=True)
    max_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    max_cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["agent", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "agent"], name="stepcap_project_agent"),
            models.CheckConstraint(
                condition=Q(max_steps__isnull=False)
                | Q(max_tool_calls__isnull=False)
                | Q(max_tokens__isnull=False)
                | Q(max_cost_usd__isnull=False),
                name="stepcap_caps_something",
            ),
        ]

    def __str__(self) -> str:
        return f"step cap {self.pk} ({self.agent}) of {self.project_id}"


class RunawayRun(models.Model):
    """A run that passed its agent's step cap, recorded once (the first cap found past, with the run's
    value then). The run list marks and filters runs by this small table, never by comparing runs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    trace_id = models.UUIDField()  # traces.Run.trace_id
    agent = models.CharField(max_length=200)
    cap = models.ForeignKey(StepCap, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    cap_name = models.CharField(max_length=32)  # which: max_steps, max_tool_calls, max_tokens, max_cost_usd
    cap_value = models.DecimalField(max_digits=30, decimal_places=10)
    value = models.DecimalField(max_digits=30, decimal_places=10)  # the run's, when it was found
    detected_at = models.DateTimeField()

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="runaway_project_trace")]
        indexes = [models.Index(fields=["project", "detected_at"], name="runaway_project_detected")]

    def __str__(self) -> str:
        return f"runaway run {self.trace_id.hex} ({self.cap_name} {self.value} > {self.cap_value})"
