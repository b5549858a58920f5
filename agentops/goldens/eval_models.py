"""Eval runs: one evaluation of a bundle of an agent on one version of a golden set, and its results.

An `EvalRun` is made by the CLI (agentops.goldens.eval_api), which then runs every case of the set
version K times (`repeat`) and submits each attempt's output and the trace id of the agent's run as an
`EvalCaseResult`. Scoring reads each attempt's stored run (agentops.goldens.facts) once it has landed,
and the gate (agentops.goldens.gate) turns the scored attempts into the run's verdict.

Deleting a golden set keeps its eval runs: `golden_set` becomes null and `set_name` still says which set
it was (the history of a bundle's evals outlives a set's reorganisation).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agentops.tenancy.models import Project


class EvalState(models.TextChoices):
    OPEN = "open"  # taking results
    SCORING = "scoring"  # scoring asked for; waiting for traces to land (results still taken)
    DONE = "done"
    ERROR = "error"


class EvalVerdict(models.TextChoices):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class EvalRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="eval_runs")
    golden_set = models.ForeignKey(
        "goldens.GoldenSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_runs"
    )
    set_name = models.CharField(max_length=100)
    set_version = models.PositiveIntegerField()
    bundle = models.CharField(max_length=200)
    baseline_bundle = models.CharField(max_length=200, blank=True, default="")
    # The eval the gate compared with (the baseline bundle's latest done eval on the same set version).
    baseline = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    repeat = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=16, choices=EvalState.choices, default=EvalState.OPEN)
    gate = models.JSONField(default=dict)
    verdict = models.CharField(max_length=16, choices=EvalVerdict.choices, blank=True, default="")
    reasons = models.JSONField(default=list)
    metrics = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="evalrun_project_created"),
            # The baseline lookup: a bundle's latest done eval on a set version.
            models.Index(fields=["golden_set", "set_version", "bundle", "state"], name="evalrun_baseline"),
        ]

    def __str__(self) -> str:
        return f"eval run {self.pk} of {self.bundle} on {self.set_name} v{self.set_version}"


class EvalCaseResult(models.Model):
    """One attempt at one case: what the agent answered, its run, and (once scored) each assertion's
    outcome [{"type", "name"?, "status", "reason"}] and whether the attempt passed."""

    eval_run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case_key = models.CharField(max_length=64)
    attempt = models.PositiveSmallIntegerField()
    trace_id = models.UUIDField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    outcomes = models.JSONField(default=list)
    passed = models.BooleanField(null=True, blank=True, help_text="null until scored")
    latency_ms = models.FloatField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["eval_run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["eval_run", "case_key", "attempt"], name="evalcaseresult_attempt")
        ]

    def __str__(self) -> str:
        return f"case {self.case_key} attempt {self.attempt} of eval run {self.eval_run_id}"
