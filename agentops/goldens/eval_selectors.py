"""Reads of eval runs, scoped to a project the caller resolved through the tenancy chokepoint."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import QuerySet

from agentops.goldens.eval_models import EvalCaseResult, EvalRun, EvalState
from agentops.tenancy.models import Project
from traces.models import Run


def project_eval_runs(project: Project, *, set_name: str = "", bundle: str = "") -> QuerySet[EvalRun]:
    runs = EvalRun.objects.filter(project=project).select_related("created_by")
    if set_name:
        runs = runs.filter(set_name=set_name)
    if bundle:
        runs = runs.filter(bundle=bundle)
    return runs


def project_eval_run(project: Project, eval_run_id: int) -> EvalRun | None:
    return EvalRun.objects.filter(project=project, pk=eval_run_id).select_related("golden_set", "created_by").first()


def results(eval_run: EvalRun) -> QuerySet[EvalCaseResult]:
    return EvalCaseResult.objects.filter(eval_run=eval_run).order_by("case_key", "attempt")


def baseline_for(eval_run: EvalRun) -> EvalRun | None:
    """The baseline bundle's latest done eval on the same set version (never the run itself)."""
    if not eval_run.baseline_bundle or eval_run.golden_set_id is None:
        return None
    done = EvalRun.objects.filter(
        project_id=eval_run.project_id,
        golden_set_id=eval_run.golden_set_id,
        set_version=eval_run.set_version,
        bundle=eval_run.baseline_bundle,
        state=EvalState.DONE,
    )
    return done.exclude(pk=eval_run.pk).exclude(verdict="error").order_by("-finished_at", "-id").first()


def runs_by_trace(project: Project, trace_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Run]:
    """The project's stored runs of these trace ids: one query. Another project's run is not found."""
    wanted = set(trace_ids)
    if not wanted:
        return {}
    return {run.trace_id: run for run in Run.objects.filter(project=project, trace_id__in=wanted)}
