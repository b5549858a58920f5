"""The eval run pages of a project (issue #14): what `agentops eval` did, case by case.

GET /p/<slug>/evals/?set=&bundle=&before=   eval runs, newest first, PAGE_SIZE a page (`before`: the
                                             keyset cursor of the "older" link); with a set chosen, the
                                             trend chart of its pass rate per bundle (a point links to
                                             its eval run)
GET /p/<slug>/evals/<id>/?failures=1&from=N&live=1
                                             one eval run: its verdict and the gate's reasons, then its
                                             cases, CASES_SHOWN a page from the N-th (attempts, the failing assertion, latency, cost, the
                                             output with the payload permission, links to the run's
                                             replay and to the baseline's result). While the run is
                                             open or scoring, the page polls `live=1` (the part that
                                             changes) every POLL_SECONDS; the answer of a finished run
                                             stops the polling.
GET /p/<slug>/evals/compare/?a=<id>&b=<id>  two eval runs side by side, cases aligned by key: what broke
                                             (passed in A, fails in B) first, then what was fixed. Without
                                             a and b, a form asks for them.

Every member reads (Viewers see no outputs and no scorers' reasons, which may quote them); the project
comes from the tenancy chokepoint, so an outsider, and another project's eval run id, get 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import json_script

from agentops.goldens import eval_page_selectors, eval_selectors
from agentops.goldens.eval_charts import TrendPoint, pass_rate_trend
from agentops.goldens.eval_models import EvalRun, EvalState
from agentops.goldens.eval_pages import case_passed, case_rows, compare_rows, light_cases
from agentops.goldens.eval_presenters import cases_dicts
from agentops.goldens.page_nav import GOLDENS_TAB
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

POLL_SECONDS = 2
# Cases shown a page: the template's rendering, not the queries, is what grows with a set (bench/eval_pages.py).
CASES_SHOWN = 200
REASON_GROUPS = [
    ("Thresholds missed", ("threshold",)),
    ("Regressions against the baseline", ("flipped", "pass_rate")),
    ("Failing cases", ("case_failed",)),
    ("Inconclusive", ("small_sample", "no_baseline")),
]


def _eval_run(project: Project, eval_run_id: int) -> EvalRun:
    found = eval_selectors.project_eval_run(project, eval_run_id)
    if found is None:
        raise Http404("No such eval run in this project")
    return found


_TRACE = "0" * 32
_EVAL_RUN = 4242424242


def _links(project: Project) -> tuple[Any, Any]:
    # Reversed once, then filled: a page of 1,000 cases would otherwise spend a fifth of its time in reverse().
    run_path = reverse("run_replay", kwargs={"slug": project.slug, "trace_id": _TRACE})
    eval_path = reverse("eval_run", kwargs={"slug": project.slug, "eval_run_id": _EVAL_RUN})
    run_head, run_tail = run_path.split(_TRACE)
    eval_head, eval_tail = eval_path.split(str(_EVAL_RUN))

    def run_url(trace_hex: str) -> str:
        return f"{run_head}{trace_hex}{run_tail}"

    def eval_link(eval_run_id: int, case_key: str) -> str:
        return f"{eval_head}{eval_run_id}{eval_tail}#case-{case_key}"

    return run_url, eval_link


def _cases(project: Project, eval_run: EvalRun, payloads: bool) -> list[dict[str, Any]]:
    run_url, _ = _links(project)
    keys = eval_page_selectors.case_keys(eval_run)
    results = eval_selectors.results(eval_run)
    if not payloads:
        results = results.defer("output")  # never shown: not read
    return cases_dicts(eval_run, list(results), keys, payloads=payloads, run_url=run_url)


def _light_cases(project: Project, eval_run: EvalRun) -> list[dict[str, Any]]:
    """Pass/fail and the runs of each case, without outputs and outcomes (the comparison, the baseline)."""
    run_url, _ = _links(project)
    return light_cases(
        eval_page_selectors.attempt_states(eval_run),
        eval_page_selectors.case_keys(eval_run),
        repeat=eval_run.repeat,
        finished=eval_run.finished_at is not None,
        link=run_url,
    )


def _pass_rate(eval_run: EvalRun) -> float | None:
    share = (eval_run.metrics or {}).get("task_success")
    return 100 * share if isinstance(share, (int, float)) and not isinstance(share, bool) else None


def _summary(eval_run: EvalRun) -> dict[str, Any]:
    metrics = eval_run.metrics or {}
    return {
        "r": eval_run,
        "pass_rate": _pass_rate(eval_run),
        "cases": metrics.get("cases"),
        "passed": metrics.get("passed"),
        "final": eval_run.state in (EvalState.DONE, EvalState.ERROR),
    }


@project_view(Perm.VIEW_PROJECT)
def eval_runs(request: HttpRequest, project: Project) -> HttpResponse:
    set_name, bundle = request.GET.get("set", "")[:100], request.GET.get("bundle", "")[:200]
    raw_before = request.GET.get("before", "")
    before = int(raw_before) if raw_before.isdigit() and len(raw_before) <= 18 else None
    runs, more = eval_page_selectors.eval_runs_page(project, set_name=set_name, bundle=bundle, before=before)
    names, bundles = eval_page_selectors.filter_choices(project)
    filters = {k: v for k, v in (("set", set_name), ("bundle", bundle)) if v}
    context: dict[str, Any] = {
        "rows": [_summary(r) for r in runs],
        "names": names,
        "bundles": bundles,
        "filters": filters,
        "next_query": urlencode({**filters, "before": runs[-1].pk}) if more and runs else "",
    }
    if set_name:
        points = []
        for r in eval_page_selectors.trend_runs(project, set_name):
            rate = _pass_rate(r)
            if rate is not None and r.finished_at is not None:
                url = reverse("eval_run", kwargs={"slug": project.slug, "eval_run_id": r.pk})
                points.append(TrendPoint(r.pk, r.bundle, r.finished_at, rate / 100, url))
        trend = pass_rate_trend(points, set_name)
        context["trend"] = {
            "script": json_script(trend.figure, "figure-eval-trend") if points else "",
            "left_out": trend.bundles_left_out,
        }
    return render_project(request, project, "goldens/eval_runs.html", GOLDENS_TAB | context)


def _reasons(eval_run: EvalRun, payloads: bool, run_url: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    shown = []
    for reason in eval_run.reasons:
        r = {k: v for k, v in reason.items() if payloads or k != "detail"}
        if r.get("trace_id"):
            r["run_url"] = run_url(r["trace_id"])
        shown.append(r)
    known = {kind for _, kinds in REASON_GROUPS for kind in kinds}
    groups = [(title, [r for r in shown if r.get("kind") in kinds]) for title, kinds in REASON_GROUPS]
    groups.append(("Errors", [r for r in shown if r.get("kind") not in known]))
    return [(title, rs) for title, rs in groups if rs]


@project_view(Perm.VIEW_PROJECT)
def eval_run_detail(request: HttpRequest, project: Project, eval_run_id: int) -> HttpResponse:
    eval_run = _eval_run(project, eval_run_id)
    payloads = Perm.VIEW_PAYLOADS in project_perms(request, project)
    run_url, eval_link = _links(project)
    cases = _cases(project, eval_run, payloads)
    baseline = eval_run.baseline
    if baseline is None and eval_run.baseline_bundle and eval_run.state != EvalState.DONE:
        baseline = eval_selectors.baseline_for(eval_run)  # the one the gate will compare with
    baseline_passed = case_passed(_light_cases(project, baseline)) if baseline else {}
    failures_only = request.GET.get("failures") == "1"
    raw_from = request.GET.get("from", "")
    start = int(raw_from) if raw_from.isdigit() and len(raw_from) <= 9 else 0
    summary = _summary(eval_run)
    rows = case_rows(
        cases,
        payloads=payloads,
        baseline_id=baseline.pk if baseline else None,
        baseline=baseline_passed,
        eval_link=eval_link,
        failures_only=failures_only,
    )
    shown = rows[start : start + CASES_SHOWN]
    kept = {"failures": 1} if failures_only else {}
    context = {
        "eval_run": eval_run,
        "summary": summary,
        "payloads": payloads,
        "baseline": baseline,
        "reason_groups": _reasons(eval_run, payloads, run_url),
        "rows": shown,
        "first_shown": start + 1 if shown else 0,
        "last_shown": start + len(shown),
        "rows_total": len(rows),
        "next_query": urlencode({**kept, "from": start + CASES_SHOWN}) if start + CASES_SHOWN < len(rows) else "",
        "previous_query": urlencode({**kept, "from": max(0, start - CASES_SHOWN)}) if start > 0 else "",
        "failing_count": sum(c["passed"] is False for c in cases),
        "case_count": len(cases),
        "failures_only": failures_only,
        "live_url": f"{request.path}?{urlencode({**kept, **({'from': start} if start else {}), 'live': 1})}",
        "poll_seconds": POLL_SECONDS,
        "comparison": (eval_run.metrics or {}).get("comparison"),
    }
    if request.GET.get("live"):
        return render(request, "goldens/_eval_live.html", {"project": project, **context})
    return render_project(request, project, "goldens/eval_run.html", GOLDENS_TAB | context)


def _compare_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


@project_view(Perm.VIEW_PROJECT)
def eval_compare(request: HttpRequest, project: Project) -> HttpResponse:
    raw_a, raw_b = request.GET.get("a", ""), request.GET.get("b", "")
    context: dict[str, Any] = {"a_value": raw_a[:20], "b_value": raw_b[:20]}
    if not raw_a and not raw_b:
        return render_project(request, project, "goldens/eval_compare.html", GOLDENS_TAB | context)
    a_id, b_id = _compare_id(raw_a), _compare_id(raw_b)
    if a_id is None or b_id is None:
        context["error"] = "Give two eval run numbers, A and B."
        return render_project(request, project, "goldens/eval_compare.html", GOLDENS_TAB | context, status=400)
    a, b = _eval_run(project, a_id), _eval_run(project, b_id)
    _, eval_link = _links(project)
    rows = compare_rows(a.pk, _light_cases(project, a), b.pk, _light_cases(project, b), eval_link)
    context |= {
        "a": _summary(a),
        "b": _summary(b),
        "rows": rows,
        "broke": sum(r.change == "broke" for r in rows),
        "fixed": sum(r.change == "fixed" for r in rows),
        "same_version": a.golden_set_id == b.golden_set_id and a.set_version == b.set_version,
    }
    return render_project(request, project, "goldens/eval_compare.html", GOLDENS_TAB | context)
