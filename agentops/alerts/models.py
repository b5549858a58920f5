"""Alert rules, the alerts they open, and every change of an alert's state.

A rule says what to watch (its kind and metric), where (its scope: filters on the runs) and when to
speak (levels, a minimum sample, a window). The evaluator (beat, every minute) observes each rule's
scopes and opens, updates, escalates or resolves one alert per (rule, scope): a partial unique index
keeps a second alert from opening while one is live, whatever two evaluators race. What an alert said
when it opened, and each later change, is an AlertEvent row: the alert row holds the present, its events
the past.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agentops.tenancy.models import Project


class RuleKind(models.TextChoices):
    DRIFT = "drift", "Drift (bundle against its baseline)"
    THRESHOLD = "threshold", "Threshold (a metric over a rolling window)"
    SPIKE = "spike", "Spike (a metric against its own trailing baseline)"
    BUDGET = "budget", "Budget (spend over a calendar window)"


class Severity(models.TextChoices):
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


class AlertRule(models.Model):
    class Direction(models.TextChoices):
        ABOVE = "above", "above"
        BELOW = "below", "below"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    # What is measured; its meaning depends on the kind (agentops.alerts.rules lists the choices).
    metric = models.CharField(max_length=64, blank=True)
    # Filters on the runs watched: {"agent": .., "bundle": .., "environment": .., "model": .., "tool": ..,
    # "user": ..}; empty is the whole project.
    scope = models.JSONField(default=dict, blank=True)
    window_minutes = models.PositiveIntegerField(default=60)
    warning = models.FloatField(null=True, blank=True)
    critical = models.FloatField(null=True, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.ABOVE)
    # Below this many runs in the window the rule says nothing (no alert opens, an open one stays).
    min_sample = models.PositiveIntegerField(default=20)
    # What only one kind needs (spike: factor and days; budget: limit, period, time zone, soft percents;
    # drift: metrics and effect limits), checked by agentops.alerts.rules.
    params = models.JSONField(default=dict, blank=True)
    # While an alert stays open, remind every this many minutes (null: never).
    renotify_minutes = models.PositiveIntegerField(null=True, blank=True)
    # Empty: every channel of the project.
    channels = models.ManyToManyField("notify.Channel", blank=True, related_name="alert_rules")
    enabled = models.BooleanField(default=True)
    # One of the rules every project starts with (agentops.alerts.rules.ensure_default_rules).
    is_default = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["project", "enabled"], name="alertrule_project_enabled")]

    def __str__(self) -> str:
        return f"{self.kind} rule {self.name!r} of {self.project_id}"


class Alert(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "open"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        RESOLVED = "resolved", "resolved"

    LIVE_STATES = (State.OPEN, State.ACKNOWLEDGED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    # Copied from the rule when the alert opened: an alert keeps saying what it was about after an edit.
    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    metric = models.CharField(max_length=64, blank=True)
    # The scope the alert is about (the rule's, narrowed: a drift alert names its agent and bundle).
    scope = models.JSONField(default=dict, blank=True)
    # The scope spelled canonically: one live alert per (rule, scope_key).
    scope_key = models.CharField(max_length=500)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    value = models.FloatField(null=True, blank=True)
    baseline_value = models.FloatField(null=True, blank=True)
    summary = models.CharField(max_length=500)
    # The evidence as plain data: for drift the metric's test, n and p-value; for a budget its window.
    details = models.JSONField(default=dict, blank=True)
    # The run list's filters that show the runs behind the alert (traces.filters parameters).
    runs_filter = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Muted: it stays open and keeps being evaluated, but sends nothing until then (null: not muted).
    muted_until = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "scope_key"],
                condition=~models.Q(state="resolved"),
                name="alert_one_live_per_rule_scope",
            )
        ]
        indexes = [
            models.Index(fields=["project", "state", "-opened_at"], name="alert_project_state_opened"),
            models.Index(fields=["project", "-opened_at"], name="alert_project_opened"),
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.kind} alert {self.pk} ({self.state})"


class AlertEvent(models.Model):
    """One change of an alert: what it said then, and who made the change when a person did."""

    class Event(models.TextChoices):
        OPENED = "opened", "opened"
        ESCALATED = "escalated", "escalated"
        DEESCALATED = "deescalated", "de-escalated"
        REMINDER = "reminder", "reminder"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        MUTED = "muted", "muted"
        UNMUTED = "unmuted", "unmuted"
        RESOLVED = "resolved", "resolved"

    # Denormalized from the alert, so that a project's history is one index range and tenancy one filter.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=16, choices=Event.choices)
    at = models.DateTimeField()
    severity = models.CharField(max_length=16, choices=Severity.choices)
    value = models.FloatField(null=True, blank=True)
    baseline_value = models.FloatField(null=True, blank=True)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["alert", "at"], name="alertevent_alert_at")]

    def __str__(self) -> str:
        return f"{self.event} of alert {self.alert_id} at {self.at:%Y-%m-%d %H:%M:%S}"
