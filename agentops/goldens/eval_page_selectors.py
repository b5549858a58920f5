"""Reads of the eval run pages, scoped to the project the tenancy chokepoint resolved.

Each is one query whatever the data: a bounded page of runs (keyset on the id, which follows creation),
the filter choices (bounded), the trend's points (bounded), a run's case keys in the set version's order.
"""

from __future__ import annotations

import uuid

from agentops.goldens import selectors
from agentops.goldens.eval_models import EvalCaseResult, EvalRun, EvalState
from agentops.tenancy.models import Project

PAGE_SIZE = 50
MAX_CHOICES = 200
MAX_TREND_POINTS = 500


def eval_runs_page(project: Project, *, set_name: str, bundle: str, before: int | None) -> tuple[list[EvalRun], bool]:
    """A page of the project's eval runs, newest first, and whether older ones follow."""
    runs = EvalRun.objects.filter(project=project).select_related("created_by")
    if set_name:
        runs = runs.filter(set_name=set_name)
    if bundle:
        runs = runs.filter(bundle=bundle)
    if before is not None:
        runs = runs.filter(pk__lt=before)
    found = list(runs.order_by("-id")[: PAGE_SIZE + 1])
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE


def filter_choices(project: Project) -> tuple[list[str], list[str]]:
    """The set names and bundles the project's eval runs name (the most recent MAX_CHOICES of each)."""
    runs = EvalRun.objects.filter(project=project)
    names = runs.values_list("set_name", flat=True).distinct().order_by("set_name")[:MAX_CHOICES]
    bundles = runs.values_list("bundle", flat=True).distinct().order_by("bundle")[:MAX_CHOICES]
    return list(names), list(bundles)


def trend_runs(project: Project, set_name: str) -> list[EvalRun]:
    """The set's finished eval runs with a pass rate, the newest MAX_TREND_POINTS."""
    done = EvalRun.objects.filter(project=project, set_name=set_name, state=EvalState.DONE, finished_at__isnull=False)
    return list(done.only("id", "bundle", "finished_at", "metrics").order_by("-finished_at", "-id")[:MAX_TREND_POINTS])


def case_keys(eval_run: EvalRun) -> list[str]:
    """The cases of the run's set version in order (none when the set was deleted: the results say)."""
    if eval_run.golden_set is None:
        return []
    return list(selectors.cases_at(eval_run.golden_set, eval_run.set_version).values_list("case_key", flat=True))


def attempt_states(eval_run: EvalRun) -> list[tuple[str, int, bool | None, uuid.UUID | None]]:
    """Each attempt's (case key, attempt, passed, trace id), without outputs and outcomes: what the
    comparison and the baseline column need, at a fraction of the cost of whole result rows."""
    rows = EvalCaseResult.objects.filter(eval_run=eval_run).order_by("case_key", "attempt")
    return list(rows.values_list("case_key", "attempt", "passed", "trace_id"))
