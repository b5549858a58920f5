"""Sampling rules and their review queue: production runs sampled into a golden set, through a person.

A `SamplingRule` is a run-list filter (the query string of the run list, parsed by traces.filters), a
sample rate and a target set. The periodic pass (agentops.goldens.rules_sampling) walks each enabled
rule's finished runs in the order they last changed, from its cursor (`cursor_at`, `cursor_id`: the
(updated_at, id) of the last run it looked at), and queues the sampled ones as `ReviewItem`s. A run is
sampled by a hash of its trace id against the rate (agentops.goldens.rules.sampled): the same run is
always in or out, so a pass that reads a run again (it changed since) never samples it differently,
and the unique (rule, trace_id) keeps it queued once.

A person (Engineer and above) accepts an item into the set, which adds a case reviewed by them, or
discards it; a rule with `auto_accept` adds its sampled runs as cases at once, with no reviewer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from agentops.tenancy.models import Project


class SamplingRule(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sampling_rules")
    name = models.CharField(max_length=100)
    # A rule serves its set: deleting the set deletes its rules and their queue.
    golden_set = models.ForeignKey("goldens.GoldenSet", on_delete=models.CASCADE, related_name="sampling_rules")
    filter = models.CharField(max_length=2000, blank=True, default="", help_text="A run list query string")
    sample_rate = models.DecimalField(max_digits=5, decimal_places=2, help_text="Percent of matching runs, 0.01-100")
    auto_accept = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    cursor_at = models.DateTimeField()
    cursor_id = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("project", Lower("name"), name="samplingrule_project_name"),
            models.CheckConstraint(
                condition=models.Q(sample_rate__gt=0, sample_rate__lte=100), name="samplingrule_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return f"sampling rule {self.name}"

    @property
    def rate_text(self) -> str:
        """The rate as typed: 10, 2.5 (Decimal.normalize alone would write 10 as 1E+1)."""
        return format(self.sample_rate.normalize(), "f")


class ReviewItem(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DISCARDED = "discarded"

    rule = models.ForeignKey(SamplingRule, on_delete=models.CASCADE, related_name="review_items")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # No foreign key to the run: retention may delete a pending item's run (the item then says so).
    trace_id = models.UUIDField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Why an auto-accepting rule left it for a person (the case could not be made).
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    case = models.ForeignKey("goldens.GoldenCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["rule", "trace_id"], name="reviewitem_rule_trace")]
        indexes = [models.Index(fields=["project", "state", "id"], name="reviewitem_project_state")]

    def __str__(self) -> str:
        return f"review item {self.pk} ({self.state})"
