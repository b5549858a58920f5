"""Golden sets: named, versioned sets of test cases of a project, made from its runs.

Versions. A set's content changes only through agentops.goldens.services, each change (one case added,
edited or removed, or a whole import) making the next version: `GoldenSet.version` is the current one,
and a `GoldenSetVersion` row says who made it, when, and what changed. Version 0 is the empty set of its
creation. Case rows are never rewritten: a row holds one state of a case (`case_key`, stable across
edits) from the version that wrote it (`added_in`) until the version that replaced or removed it
(`removed_in`, null while current). So version N is the rows with added_in <= N < removed_in (or
removed_in null), and an old version reads back exactly as it was. An edit closes the case's row and
opens a new one under the same key.

Cases pin the runs they came from (`source_trace_id`): retention keeps those runs as long as the set
holds any row of them, current or old (`agentops.goldens.selectors.pinned_trace_ids`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from agentops.tenancy.models import Project


class GoldenSet(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="golden_sets")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=0, help_text="The current version; 0 before any case")
    # The set's own gate (agentops.goldens.gate.clean_gate form), used by an eval run whose request
    # names no gate: a CI config's [gate] table still wins (agentops.goldens.eval_services.eval_create).
    gate = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # Case-insensitive: "Smoke" and "smoke" side by side would be one typo away from each other
            # on a CI command line.
            models.UniqueConstraint("project", Lower("name"), name="goldenset_project_name"),
        ]

    def __str__(self) -> str:
        return f"golden set {self.name} v{self.version}"


class GoldenSetVersion(models.Model):
    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    note = models.CharField(max_length=500, blank=True, default="")
    added = models.PositiveIntegerField(default=0)
    edited = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["golden_set", "number"]
        constraints = [models.UniqueConstraint(fields=["golden_set", "number"], name="goldensetversion_number")]

    def __str__(self) -> str:
        return f"version {self.number} of set {self.golden_set_id}"


class ImmutableCase(Exception):
    """A case row's content was about to be rewritten: write a new row instead (services.case_edit)."""


class GoldenCase(models.Model):
    """One state of one case (see the module docstring). Only `removed_in` is ever updated."""

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="cases")
    # Denormalized from the set: the retention pin is one index scan per project.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    case_key = models.CharField(max_length=64)
    # The case's place in the set, given when it is first added and kept by its edits.
    ordinal = models.PositiveIntegerField()
    added_in = models.PositiveIntegerField()
    removed_in = models.PositiveIntegerField(null=True, blank=True)
    input = models.JSONField(null=True)
    expected_output = models.JSONField(null=True, blank=True)
    assertions = models.JSONField(default=list)
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    notes = models.TextField(blank=True, default="")
    source_trace_id = models.UUIDField(null=True, blank=True)
    source_span_id = models.BigIntegerField(null=True, blank=True)
    source_agent = models.CharField(max_length=200, blank=True, default="")
    source_bundle = models.CharField(max_length=200, blank=True, default="")
    source_status = models.CharField(max_length=16, blank=True, default="")
    # When the source run started: "the failure of last Tuesday".
    source_at = models.DateTimeField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["golden_set", "added_in", "id"]
        constraints = [
            models.UniqueConstraint(fields=["golden_set", "case_key", "added_in"], name="goldencase_key_version"),
            # At most one current row per case.
            models.UniqueConstraint(
                fields=["golden_set", "case_key"], condition=Q(removed_in__isnull=True), name="goldencase_key_live"
            ),
            models.CheckConstraint(
                condition=Q(removed_in__isnull=True) | Q(removed_in__gt=models.F("added_in")),
                name="goldencase_removed_after_added",
            ),
        ]
        indexes = [
            models.Index(fields=["golden_set", "added_in"], name="goldencase_set_added"),
            models.Index(fields=["project", "source_trace_id"], name="goldencase_project_source"),
        ]

    def __str__(self) -> str:
        return f"case {self.case_key} v{self.added_in}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and set(kwargs.get("update_fields") or ()) != {"removed_in"}:
            raise ImmutableCase(f"case row {self.pk} is immutable; only removed_in may be set")
        super().save(*args, **kwargs)

    def live_at(self, version: int) -> bool:
        return self.added_in <= version and (self.removed_in is None or version < self.removed_in)


class JudgeSettings(models.Model):
    """The OpenAI-compatible chat endpoint that scores a project's `llm_judge` assertions. The key is
    kept in clear because every call sends it; it is never shown back."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="judge_settings")
    base_url = models.URLField(max_length=500, help_text="e.g. https://api.openai.com/v1")
    model = models.CharField(max_length=200)
    api_key = models.CharField(max_length=500, blank=True)
    timeout_seconds = models.FloatField(default=20.0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"LLM judge of project {self.project_id}: {self.model}"


# Eval runs live in their own module; Django finds models through this one.
from agentops.goldens.eval_models import EvalCaseResult, EvalRun  # noqa: E402
from agentops.goldens.rule_models import ReviewItem, SamplingRule  # noqa: E402

__all__ = [
    "EvalCaseResult",
    "EvalRun",
    "GoldenCase",
    "GoldenSet",
    "GoldenSetVersion",
    "JudgeSettings",
    "ReviewItem",
    "SamplingRule",
]
