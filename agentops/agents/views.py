"""Pages of agents: two bundles compared, and the verdicts of an agent's recent bundles.

GET /p/<slug>/agents/<agent>/compare/?candidate=&baseline=&environment=&since=
    bundle_compare: the verdict of a candidate bundle against a baseline (agentops.alerts.canary, the
    engine the canary API and drift alerts use), then per metric both arms' sizes and values, the
    effect, the p-value, the verdict and its reason; per continuous metric both distributions as box
    plots (agentops.agents.charts); links to the runs behind each arm. Without a candidate: the agent's
    newest bundle (by first seen) against its recorded baseline, in that bundle's environment. Without
    a baseline: the candidate's recorded one. `since` is an ISO date-time (no zone: UTC).
    404 page (with the project's navigation) for an agent or bundle the project does not have; 400 page
    for a malformed `since` or a bundle compared with itself.
GET /p/<slug>/agents/<agent>/verdicts/
    bundle_verdicts: an htmx fragment for the agent dashboard, which loads it after its own response so
    that the verdicts' database time does not delay the dashboard: the agent's newest bundles (at most
    RECENT_BUNDLES, by first seen) each with its verdict against its recorded baseline, within the
    bundle's environment. 404 for an agent the project does not have.

Any role that may view the project may see both (verdicts hold no payloads); the project comes from the
tenancy chokepoint (`project_view`), so another tenant's project is a 404. The page's arms are read once, by
canary_verdict, whose report carries them for the plots.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import json_script

from agentops.agents import charts
from agentops.agents.models import Bundle
from agentops.agents.selectors import project_agent, project_bundles
from agentops.alerts import selectors as samples
from agentops.alerts.canary import CanaryInvalid, CanaryNotFound, CanaryReport, canary_verdict
from agentops.alerts.comparison import PROPORTIONS, Sample, compare
from agentops.alerts.stats import Judgement, MetricResult, Verdict
from agentops.pages import project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

RECENT_BUNDLES = 10
# Bundles offered in the page's select boxes: the newest, so that the page stays small.
MAX_CHOICES = 200
_PROPORTIONS = {spec.name for spec, _ in PROPORTIONS}
_TEMPLATE = "agents/compare.html"


class _BadRequest(ValueError):
    pass


def _since(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:  # well formed, but no such date: 2026-02-30
        value = None
    if value is None:
        raise _BadRequest(f"since must be an ISO 8601 date-time such as 2026-11-22T10:00, not {raw!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _is_proportion(name: str) -> bool:
    return name in _PROPORTIONS or (name.startswith("tool.") and name.endswith(".error_rate"))


def _number(value: float | None, *, proportion: bool) -> str:
    if value is None:
        return "\u2013"  # an en dash: no value
    if proportion:
        return f"{value:.1%}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _effect(result: MetricResult, *, proportion: bool) -> str:
    if result.effect is None:
        return "from 0" if result.candidate_value else "\u2013"
    return f"{result.effect * 100:+.1f} pts" if proportion else f"\u00d7{result.effect:.2f}"


def _p_value(p: float | None) -> str:
    if p is None:
        return "\u2013"
    return f"{p:.2g}" if p >= 0.0001 else "<0.0001"


def _metric_row(result: MetricResult) -> dict[str, Any]:
    proportion = _is_proportion(result.name)
    return {
        "m": result,
        "baseline_value": _number(result.baseline_value, proportion=proportion),
        "candidate_value": _number(result.candidate_value, proportion=proportion),
        "effect": _effect(result, proportion=proportion),
        "p_value": _p_value(result.p_value),
    }


def runs_url(project: Project, *, agent: str, bundle: str, environment: str | None, since: datetime | None) -> str:
    """The run list filtered to one arm of a comparison."""
    query = {"agent": agent, "bundle": bundle}
    if environment is not None:
        query["environment"] = environment
    if since is not None:
        query["from"] = since.isoformat()
    return f"{reverse('run_list', kwargs={'slug': project.slug})}?{urlencode(query)}"


def compare_url(project: Project, agent: str, **query: str | None) -> str:
    url = reverse("bundle_compare", kwargs={"slug": project.slug, "agent": agent})
    kept = {k: v for k, v in query.items() if v}
    return f"{url}?{urlencode(kept)}" if kept else url


def _recent(project: Project, agent: str, limit: int) -> list[Bundle]:
    return list(project_bundles(project, agent=agent).order_by("-first_seen", "-id")[:limit])


def _choices(bundles: list[Bundle]) -> dict[str, list[str]]:
    names = list(dict.fromkeys(b.name for b in bundles))
    environments = sorted({b.environment for b in bundles})
    return {"names": names, "environments": environments}


def _figures(report: CanaryReport) -> list[dict[str, Any]]:
    """The box plots of the report's continuous metrics, from the arms the verdict was computed on."""
    if report.baseline is None or report.baseline_sample is None or report.candidate_sample is None:
        return []
    if not report.judgement.metrics:
        return []
    figures = charts.comparison_boxes(
        report.judgement,
        baseline=report.baseline,
        baseline_sample=report.baseline_sample,
        candidate=report.candidate,
        candidate_sample=report.candidate_sample,
    )
    return [
        {
            "name": metric,
            "title": fig["layout"]["title"]["text"],
            "script": json_script(fig, f"figure-box-{i}") if fig["data"] else "",
            "id": f"figure-box-{i}",
        }
        for i, (metric, fig) in enumerate(figures)
    ]


@project_view(Perm.VIEW_PROJECT)
def bundle_compare(request: HttpRequest, project: Project, agent: str) -> HttpResponse:
    query = request.GET
    candidate = query.get("candidate") or None
    baseline = query.get("baseline") or None
    environment = query.get("environment") or None
    bundles = _recent(project, agent, MAX_CHOICES)
    context: dict[str, Any] = {
        "tab": "dashboard",
        "agent": agent,
        "choices": _choices(bundles),
        "since_value": query.get("since", ""),
        "error": "",
        "report": None,
    }

    def page(status: int, error: str = "", **extra: Any) -> HttpResponse:
        return render_project(request, project, _TEMPLATE, context | {"error": error} | extra, status=status)

    if not bundles and project_agent(project, agent) is None and not samples.bundle_has_runs(project, agent=agent):
        return page(404, f"This project has no agent named {agent!r}.")
    try:
        since = _since(query.get("since", ""))
    except _BadRequest as exc:
        return page(400, str(exc))
    if candidate is None:
        if not bundles:
            return page(200, "No bundles of this agent are recorded yet (they are, within a minute of its runs).")
        newest = bundles[0]
        candidate = newest.name
        if baseline is None and environment is None:
            # Its recorded baseline is the one of its environment: compare within it.
            environment = newest.environment
    selected = {"candidate": candidate, "baseline": baseline or "", "environment": environment}
    try:
        report = canary_verdict(
            project, agent=agent, candidate=candidate, baseline=baseline, environment=environment, since=since
        )
    except CanaryNotFound as exc:
        return page(404, f"{str(exc)[:1].upper()}{str(exc)[1:]}.", selected=selected)
    except CanaryInvalid as exc:
        return page(400, f"{str(exc)[:1].upper()}{str(exc)[1:]}.", selected=selected)
    arms = {
        "candidate": runs_url(
            project, agent=agent, bundle=report.candidate, environment=report.environment, since=since
        )
    }
    if report.baseline is not None:
        arms["baseline"] = runs_url(
            project, agent=agent, bundle=report.baseline, environment=report.environment, since=since
        )
    return page(
        200,
        report=report,
        judgement=report.judgement,
        rows=[_metric_row(m) for m in report.judgement.metrics],
        arms=arms,
        selected=selected | {"environment": report.environment},
        charts=_figures(report),
    )


def _verdict(bundle: Bundle, read: Callable[[str, str], Sample]) -> Judgement:
    """The bundle against its recorded baseline, both read in the bundle's environment (as
    canary_verdict compares a candidate with its recorded baseline)."""
    if bundle.baseline is None:
        return Judgement(Verdict.INCONCLUSIVE, None, 0, bundle.run_count, [], "no baseline: the agent's first bundle")
    return compare(read(bundle.baseline.name, bundle.environment), read(bundle.name, bundle.environment))


@project_view(Perm.VIEW_PROJECT)
def bundle_verdicts(request: HttpRequest, project: Project, agent: str) -> HttpResponse:
    bundles = _recent(project, agent, RECENT_BUNDLES)
    if not bundles and project_agent(project, agent) is None and not samples.bundle_has_runs(project, agent=agent):
        raise Http404("no such agent")
    read: dict[tuple[str, str], Sample] = {}

    def sample(name: str, environment: str) -> Sample:
        # A bundle is the baseline of the next one: each arm is read once.
        if (name, environment) not in read:
            read[name, environment] = samples.bundle_sample(project, agent=agent, bundle=name, environment=environment)
        return read[name, environment]

    rows = []
    for bundle in bundles:
        baseline = bundle.baseline.name if bundle.baseline else None
        rows.append(
            {
                "bundle": bundle,
                "judgement": _verdict(bundle, sample),
                "url": compare_url(
                    project, agent, candidate=bundle.name, baseline=baseline, environment=bundle.environment
                ),
            }
        )
    return render(request, "agents/_verdicts.html", {"rows": rows, "agent": agent, "project": project})
