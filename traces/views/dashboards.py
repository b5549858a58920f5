"""Dashboards of a project and of one of its agents.

GET /p/<slug>/dashboard/                project_dashboard: runs, error rate, latency, cost and tokens over
                                        time; cost by agent, bundle, model, end user; tool calls and
                                        tool error rates; steps per run; unpriced steps; approval
                                        rate and time to decision per action and reviewer.
GET /p/<slug>/agents/<path:agent>/      agent_dashboard: the agent's bundles (first and last seen, traffic
                                        share) and the same metrics per bundle, side by side.

Query parameters (they live in the URL, so a view can be shared): range = 24h | 7d (default) | 30d |
custom, with from / to (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC; a bare `to` date includes that day);
bundle and environment slice the runs. An invalid range answers 400 with the page and the message.
An agent never seen in the project is a 404. Any role that may view the project may see dashboards:
they hold no payloads. The page costs a fixed number of queries, whatever the data: it reads the
hourly rollups, after catching the project's up with its newest runs (traces.rollups.refresh_project,
within a time budget), so a run shows here as soon as it is stored; where that cannot be done in time
(a project of a million runs under live traffic), as of the last beat refresh, at most a minute old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.html import json_script

from agentops.approvals.history import approval_figures
from agentops.approvals.presenters import figures_context
from agentops.pages import project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces import charts, rollups
from traces.selectors import dashboards as selectors
from traces.selectors.dashboards import Window

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_RANGE = "7d"
# Wider windows are drawn per day: a few hundred points at most.
HOURLY_UP_TO = timedelta(days=7)
MAX_CUSTOM = timedelta(days=366)


class RangeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Params:
    range: str
    start: datetime
    end: datetime
    bundle: str | None
    environment: str | None

    def window(self, *, agent: str | None = None, sliced: bool = True) -> Window:
        bucket = "hour" if self.end - self.start <= HOURLY_UP_TO else "day"
        if not sliced:
            return Window(self.start, self.end, bucket, agent=agent, environment=self.environment)
        return Window(self.start, self.end, bucket, agent=agent, bundle=self.bundle, environment=self.environment)


def _parse_moment(text: str, *, end: bool) -> datetime:
    try:
        if "T" in text:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        day = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), tzinfo=UTC)
    except ValueError as exc:
        raise RangeError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from exc
    return day + timedelta(days=1) if end else day


def parse_params(query: QueryDict, now: datetime) -> Params:
    """The dashboard's window from the query string; RangeError says what is wrong with it."""
    chosen = query.get("range") or DEFAULT_RANGE
    custom_from, custom_to = query.get("from", ""), query.get("to", "")
    if chosen == "custom":
        if not custom_from:
            raise RangeError("a custom range needs a start date")
        start = _parse_moment(custom_from, end=False)
        end = _parse_moment(custom_to, end=True) if custom_to else now
        if end <= start:
            raise RangeError("the range must end after it starts")
        if end - start > MAX_CUSTOM:
            raise RangeError("a custom range may span at most a year")
    elif chosen in RANGES:
        start, end = now - RANGES[chosen], now
    else:
        raise RangeError(f"unknown range {chosen!r}")
    return Params(
        range=chosen,
        start=start,
        end=end,
        bundle=query.get("bundle") or None,
        environment=query.get("environment") or None,
    )


@dataclass(frozen=True, slots=True)
class Chart:
    name: str
    title: str
    script: str  # a <script type="application/json"> holding the figure; "" when it has no points


def _charts(**figures: charts.Figure) -> list[Chart]:
    """Figures as JSON script elements for the page, in the given order. A figure with no points gets
    no script: the page says "no data" instead of drawing empty axes."""
    return [
        Chart(
            name=name,
            title=fig["layout"]["title"]["text"],
            script=json_script(fig, f"figure-{name}") if any(t.get("x") for t in fig["data"]) else "",
        )
        for name, fig in figures.items()
    ]


def _controls(request: HttpRequest) -> tuple[Params | None, dict[str, Any]]:
    """The parsed parameters (None when invalid) and what the controls need to show them again."""
    context: dict[str, Any] = {
        "ranges": list(RANGES),
        "custom_from": request.GET.get("from", ""),
        "custom_to": request.GET.get("to", ""),
        "error": "",
        "slices": {},
    }
    try:
        params = parse_params(request.GET, timezone.now())
    except RangeError as exc:
        return None, context | {"params": None, "error": str(exc)}
    return params, context | {"params": params}


def _metric_text(label: str, value: float | None) -> str:
    if value is None:
        return "\u2013"  # an en dash: no value
    return f"{value:,.4f}" if "USD" in label else f"{value:,.1f}"


def _run_links(project: Project, window: Window) -> charts.RunLinks:
    """Where the charts' points lead: the run list, within the window and its slice."""
    sliced = (("agent", window.agent), ("bundle", window.bundle), ("environment", window.environment))
    return charts.RunLinks(
        base=reverse("run_list", kwargs={"slug": project.slug}),
        start=window.start,
        end=window.end,
        bucket=timedelta(hours=1) if window.bucket == "hour" else timedelta(days=1),
        filters=tuple((name, value) for name, value in sliced if value),
    )


@project_view(Perm.VIEW_PROJECT)
def project_dashboard(request: HttpRequest, project: Project) -> HttpResponse:
    params, controls = _controls(request)
    context: dict[str, Any] = {"tab": "dashboard", **controls}
    if params is None:
        return render_project(request, project, "traces/dashboards/project.html", context, status=400)
    rollups.refresh_project(project.pk)
    window = params.window()
    series = selectors.run_series(project, window)
    breakdowns = selectors.run_breakdowns(project, window)
    models = selectors.cost_by_model(project, window)
    links = _run_links(project, window)
    span = (window.start, window.end)
    context |= {
        "totals": selectors.run_totals(project, window),
        "breakdowns": breakdowns,
        "slices": selectors.slice_values(project, window),
        "charts": _charts(
            runs=charts.runs_over_time(series, span, links),
            errors=charts.error_rate_over_time(series, span, links),
            latency=charts.latency_over_time(series, span, links),
            cost=charts.cost_and_tokens_over_time(series, span, links),
            cost_agent=charts.cost_by("Cost by agent", breakdowns["agent"], links=links, key="agent"),
            cost_bundle=charts.cost_by("Cost by bundle", breakdowns["bundle"], links=links, key="bundle"),
            cost_model=charts.cost_by("Cost by model", models, links=links, key="model"),
            cost_user=charts.cost_by("Cost by end user", breakdowns["user_id"], links=links, key="user"),
            tools=charts.tool_calls(selectors.tool_stats(project, window), links),
            steps=charts.steps_histogram(selectors.steps_per_run(project, window)),
        ),
        # Decisions over the dashboard's range (not sliced by bundle or environment: requests have none).
        "approval_figures": figures_context(project, approval_figures(project, window.start, window.end)),
    }
    return render_project(request, project, "traces/dashboards/project.html", context)


@project_view(Perm.VIEW_PROJECT)
def agent_dashboard(request: HttpRequest, project: Project, agent: str) -> HttpResponse:
    params, controls = _controls(request)
    context: dict[str, Any] = {"tab": "dashboard", "agent": agent, **controls}
    if params is None:
        return render_project(request, project, "traces/dashboards/agent.html", context, status=400)
    # Bundles are compared, not sliced: the bundle parameter does not apply here.
    rollups.refresh_project(project.pk)
    window = params.window(agent=agent, sliced=False)
    bundles = selectors.agent_bundles(project, agent, window)
    if not bundles:
        raise Http404("no such agent")
    total = sum(b.runs for b in bundles)
    series = selectors.run_series(project, window)
    links = _run_links(project, window)
    span = (window.start, window.end)
    context |= {
        "metric_labels": [label for label, _ in charts.BUNDLE_METRICS],
        "bundle_rows": [
            {
                "stat": b,
                "share": 100 * b.runs / total if total else 0.0,
                "metrics": [_metric_text(label, value(b)) for label, value in charts.BUNDLE_METRICS],
            }
            for b in bundles
        ],
        "totals": selectors.run_totals(project, window),
        "slices": selectors.slice_values(project, window),
        "charts": _charts(
            side_by_side=charts.bundles_side_by_side(bundles, links),
            traffic=charts.bundle_traffic(selectors.bundle_series(project, window), links),
            runs=charts.runs_over_time(series, span, links),
            latency=charts.latency_over_time(series, span, links),
            cost=charts.cost_and_tokens_over_time(series, span, links),
            tools=charts.tool_calls(selectors.tool_stats(project, window), links),
            steps=charts.steps_histogram(selectors.steps_per_run(project, window)),
        ),
    }
    return render_project(request, project, "traces/dashboards/agent.html", context)
