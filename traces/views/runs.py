"""The run list and the session thread, for anyone who may view the project.

GET /p/<slug>/runs/                     runs newest first, filtered by the query string (traces.filters:
                                        from, to, status, agent, bundle, environment, model, tool,
                                        session, user, min/max_cost, min/max_duration_ms, q), 50 a page;
                                        `cursor` is the keyset of an older page.
GET /p/<slug>/runs/?after=<id>&...      the live fragment the first page polls: rows of runs stored
                                        since run <id> that match the same filters, to prepend (204 when
                                        there are none).
GET /p/<slug>/sessions/<session_id>/    every run of one session in start order, as one thread (404
                                        when the project has no run in it).

The project comes from the tenancy chokepoint (`project_view`): an outsider gets 404. Inputs and outputs
(previews) are shown to, searched by and read from the database for payload viewers only; a viewer who
sends `q` gets the page with a 400 and the reason. A bad filter value is a 400 naming the parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from agentops.pages import project_view, render_project
from agentops.tenancy.access import perms_on
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces.filters import FilterError, RunFilters, parse_cursor, parse_filters
from traces.models import Run, RunStatus
from traces.selectors import runlist

PAGE_SIZE = 50
POLL_SECONDS = 3
# What <input type="datetime-local"> sends: a wall-clock time without a zone, read here as UTC.
_LOCAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def replay_url(project: Project, run: Run) -> str:
    return reverse("run_replay", kwargs={"slug": project.slug, "trace_id": run.trace_id.hex})


def _duration(ms: float | None) -> str:
    if ms is None:
        return "\u2013"  # en dash: no end yet
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {ms % 60_000 / 1000:.0f} s"


def _cost(usd: Decimal) -> str:
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def _row(project: Project, run: Run, payloads: bool) -> dict[str, Any]:
    return {
        "run": run,
        "url": replay_url(project, run),
        "status": run.status,
        "duration": _duration(run.duration_ms),
        "cost": _cost(run.cost_usd),
        "input_preview": run.input_preview if payloads else None,
        "output_preview": run.output_preview if payloads else None,
    }


def _filter_params(request: HttpRequest) -> QueryDict:
    """The query string as the filters read it: datetime-local values (no zone) taken as UTC."""
    params = request.GET.copy()
    for name in ("from", "to"):
        value = params.get(name, "")
        if _LOCAL_DATETIME.fullmatch(value):
            params[name] = value + "Z"
    return params


def _query(params: QueryDict, **changes: str) -> str:
    """The query string with `changes`, without empty parameters (a submitted form sends every field)."""
    query = QueryDict(mutable=True)
    for key, values in params.lists():
        kept = [v for v in values if v]
        if kept and key not in changes:
            query.setlist(key, kept)
    for key, value in changes.items():
        if value:
            query[key] = value
    return query.urlencode()


@project_view(Perm.VIEW_PROJECT)
def run_list(request: HttpRequest, project: Project) -> HttpResponse:
    payloads = Perm.VIEW_PAYLOADS in perms_on(request.user, project)
    params = _filter_params(request)
    try:
        filters = parse_filters(params, payloads=payloads)
        cursor = parse_cursor(params)
        after = _after(params)
    except FilterError as exc:
        return _page(request, project, payloads=payloads, error=str(exc), status=400)
    if after is not None:
        return _live(request, project, filters, after, payloads=payloads, params=params)
    runs, next_cursor = runlist.run_list_page(project, filters, cursor, PAGE_SIZE, payloads=payloads)
    context: dict[str, Any] = {
        # The time range as <input type="datetime-local"> shows it (UTC), whatever zone the URL gave.
        "from_value": _local(filters.start_from),
        "to_value": _local(filters.start_to),
        "rows": [_row(project, run, payloads) for run in runs],
        "older_url": f"?{_query(params, cursor=next_cursor)}" if next_cursor else None,
        "first_page": cursor is None,
        "newest_url": f"?{_query(params, cursor='')}" if cursor is not None else None,
    }
    if cursor is None:
        # Live only on the first page: an older page is a fixed slice of the past.
        newest_id = max((run.pk for run in runs), default=0)
        context["live_url"] = f"?{_query(params, after=str(newest_id))}"
    return _page(request, project, payloads=payloads, context=context)


def _local(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else ""


def _after(params: QueryDict) -> int | None:
    raw = params.get("after")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise FilterError(f"after must be a run number, not {raw!r}")
    return int(raw)


def _page(
    request: HttpRequest,
    project: Project,
    *,
    payloads: bool,
    context: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    base = {
        "tab": "runs",
        "payloads": payloads,
        "params": request.GET,
        "statuses": RunStatus.values,
        "choices": runlist.filter_choices(project),
        "error": error,
        "rows": [],
        "poll_seconds": POLL_SECONDS,
    }
    return render_project(request, project, "traces/runs/list.html", base | (context or {}), status=status)


def _live(
    request: HttpRequest, project: Project, filters: RunFilters, after: int, *, payloads: bool, params: QueryDict
) -> HttpResponse:
    runs = runlist.runs_created_after(project, filters, after, payloads=payloads)
    if not runs:
        return HttpResponse(status=204)  # htmx keeps the poller as it is
    newest_id = max(run.pk for run in runs)
    context = {
        "project": project,
        "payloads": payloads,
        "rows": [_row(project, run, payloads) for run in runs],
        "live_url": f"?{_query(params, after=str(newest_id))}",
        "poll_seconds": POLL_SECONDS,
        "new": True,
    }
    return render(request, "traces/runs/_live.html", context)


@project_view(Perm.VIEW_PROJECT)
def session_thread(request: HttpRequest, project: Project, session_id: str) -> HttpResponse:
    payloads = Perm.VIEW_PAYLOADS in perms_on(request.user, project)
    runs, more = runlist.session_runs(project, session_id, payloads=payloads)
    if not runs:
        raise Http404("No runs in this session")
    context = {
        "tab": "runs",
        "session_id": session_id,
        "rows": [_row(project, run, payloads) for run in runs],
        "more": more,
        "limit": runlist.SESSION_LIMIT,
        "payloads": payloads,
        "session_list_url": f"?{_query(QueryDict(), session=session_id)}",
    }
    return render_project(request, project, "traces/runs/session.html", context)
