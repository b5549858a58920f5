"""The run list and the session thread, for anyone who may view the project.

GET /p/<slug>/runs/                     runs newest first, filtered by the query string (traces.filters:
                                        from, to, status, agent, bundle, environment, model, tool,
                                        session, user, min/max_cost, min/max_duration_ms, q, approval,
                                        runaway), 50 a page; runs with a pending approval request,
                                        and runs past their step cap ("runaway"), are marked;
                                        `cursor` is the keyset of an older page.
GET /p/<slug>/runs/?after=<id>&since=<time>&shown=<id>...&...
                                        the live fragment the first page polls: rows of runs stored
                                        since run <id> that match the same filters, to prepend, and the
                                        shown rows whose run changed since <time>, to replace in place
                                        (204 when there are neither).
GET /p/<slug>/sessions/<session_id>/    every run of one session in start order, as one thread (404
                                        when the project has no run in it).

The project comes from the tenancy chokepoint (`project_view`): an outsider gets 404. Inputs and outputs
(previews) are shown to, searched by and read from the database for payload viewers only; a viewer who
sends `q` gets the page with a 400 and the reason. A bad filter value is a 400 naming the parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm
from traces import money
from traces.filters import FilterError, RunFilters, date_presets, parse_cursor, parse_filters
from traces.models import Run, RunStatus
from traces.selectors import runlist

PAGE_SIZE = 50
POLL_SECONDS = 3
UPDATE_MARGIN = timedelta(seconds=30)
MAX_SHOWN = 500
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


def _rows(project: Project, runs: list[Run], payloads: bool) -> list[dict[str, Any]]:
    """The rows of `runs`, each marked when the run waits for an approval, and when it went past its
    step cap (one query each for them all)."""
    waiting = runlist.waiting_for_approval(project, runs)
    runaway = runlist.runaway_runs(project, runs)
    return [
        _row(project, run, payloads, waiting=run.trace_id in waiting, runaway=run.trace_id in runaway) for run in runs
    ]


def _row(project: Project, run: Run, payloads: bool, *, waiting: bool, runaway: bool) -> dict[str, Any]:
    return {
        "run": run,
        "waiting": waiting,
        "runaway": runaway,
        "url": replay_url(project, run),
        "status": run.status,
        "duration": _duration(run.duration_ms),
        "cost": money.usd(run.cost_usd),
        "input_preview": run.input_preview if payloads else None,
        "output_preview": run.output_preview if payloads else None,
    }


def filter_params(request: HttpRequest) -> QueryDict:
    """The query string as the filters read it: datetime-local values (no zone) taken as UTC."""
    params = request.GET.copy()
    for name in ("from", "to"):
        value = params.get(name, "")
        if _LOCAL_DATETIME.fullmatch(value):
            params[name] = value + "Z"
    return params


def _query(params: QueryDict, **changes: str) -> str:
    """The query string with `changes`, without empty parameters (a submitted form sends every field)
    and without the rows a poll reported (`shown`: the next poll reports its own)."""
    query = QueryDict(mutable=True)
    for key, values in params.lists():
        kept = [v for v in values if v]
        if kept and key not in changes and key != "shown":
            query.setlist(key, kept)
    for key, value in changes.items():
        if value:
            query[key] = value
    return query.urlencode()


@project_view(Perm.VIEW_PROJECT)
def run_list(request: HttpRequest, project: Project) -> HttpResponse:
    payloads = Perm.VIEW_PAYLOADS in project_perms(request, project)
    params = filter_params(request)
    try:
        filters = parse_filters(params, payloads=payloads)
        cursor = parse_cursor(params)
        after = _after(params)
        live = _live_position(params) if after is not None else None
    except FilterError as exc:
        return _page(request, project, payloads=payloads, error=str(exc), status=400)
    if after is not None and live is not None:
        return _live(request, project, filters, after, live, payloads=payloads, params=params)
    runs, next_cursor = runlist.run_list_page(project, filters, cursor, PAGE_SIZE, payloads=payloads)
    context: dict[str, Any] = {
        # The time range as <input type="datetime-local"> shows it (UTC), whatever zone the URL gave.
        "from_value": _local(filters.start_from),
        "to_value": _local(filters.start_to),
        "date_presets": _date_presets(params, filters),
        "rows": _rows(project, runs, payloads),
        "older_url": f"?{_query(params, cursor=next_cursor)}" if next_cursor else None,
        "first_page": cursor is None,
        "newest_url": f"?{_query(params, cursor='')}" if cursor is not None else None,
    }
    if cursor is None:
        # Live only on the first page: an older page is a fixed slice of the past.
        newest_id = max((run.pk for run in runs), default=0)
        context["live_url"] = f"?{_query(params, after=str(newest_id), since=_now())}"
    return _page(request, project, payloads=payloads, context=context)


def _date_presets(params: QueryDict, filters: RunFilters) -> list[dict[str, Any]]:
    """The time range presets as links: the other filters kept, from/to replaced, from the first page.
    Links, so they work without JavaScript; the one the range matches is marked."""
    presets = []
    for preset in date_presets(timezone.now()):
        start, end = _local(preset.start_from), _local(preset.start_to)
        changes = {"from": start, "to": end, "cursor": ""}
        current = (filters.start_from, filters.start_to) == (preset.start_from, preset.start_to)
        presets.append({"label": preset.label, "url": f"?{_query(params, **changes)}", "current": current})
    return presets


def _local(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else ""


def _after(params: QueryDict) -> int | None:
    raw = params.get("after")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise FilterError(f"after must be a run number, not {raw!r}")
    return int(raw)


def _now() -> str:
    return timezone.now().isoformat()


def _live_position(params: QueryDict) -> tuple[datetime, list[int]]:
    """When the previous poll answered, and which runs the page shows (the ids its rows report)."""
    raw = params.get("since", "")
    try:
        since = parse_datetime(raw)
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        raise FilterError(f"since must be the time of the previous poll, not {raw!r}")
    shown = params.getlist("shown")
    if len(shown) > MAX_SHOWN or not all(v.isdigit() and len(v) <= 18 for v in shown):
        raise FilterError(f"shown must be at most {MAX_SHOWN} run numbers")
    return since, [int(v) for v in shown]


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
        # The filter as the golden sets' bulk promotion takes it (agentops.goldens.promote_views).
        "promote_query": _query(request.GET, cursor="", after="", since="", live="")
        if payloads and Perm.MANAGE_GOLDENS in project_perms(request, project)
        else None,
    }
    return render_project(request, project, "traces/runs/list.html", base | (context or {}), status=status)


def _live(
    request: HttpRequest,
    project: Project,
    filters: RunFilters,
    after: int,
    position: tuple[datetime, list[int]],
    *,
    payloads: bool,
    params: QueryDict,
) -> HttpResponse:
    since, shown = position
    now = _now()
    runs = runlist.runs_created_after(project, filters, after, payloads=payloads)
    # A run's row changes as more of its spans arrive (steps, tokens, status): the page's rows are
    # replaced in place. Rows written by a store transaction that began before the previous poll
    # carry that earlier time: the margin takes them in, at the cost of resending a row a few times.
    updated = runlist.runs_updated_since(project, shown, since - UPDATE_MARGIN, payloads=payloads)
    if not runs and not updated:
        return HttpResponse(status=204)  # htmx keeps the poller as it is
    newest_id = max((run.pk for run in runs), default=after)
    context = {
        "project": project,
        "payloads": payloads,
        "rows": _rows(project, runs, payloads),
        "updated": _rows(project, updated, payloads),
        "live_url": f"?{_query(params, after=str(newest_id), since=now)}",
        "poll_seconds": POLL_SECONDS,
        "new": True,
    }
    return render(request, "traces/runs/_live.html", context)


@project_view(Perm.VIEW_PROJECT)
def session_thread(request: HttpRequest, project: Project, session_id: str) -> HttpResponse:
    payloads = Perm.VIEW_PAYLOADS in project_perms(request, project)
    runs, more = runlist.session_runs(project, session_id, payloads=payloads)
    if not runs:
        raise Http404("No runs in this session")
    context = {
        "tab": "runs",
        "session_id": session_id,
        "rows": _rows(project, runs, payloads),
        "more": more,
        "limit": runlist.SESSION_LIMIT,
        "payloads": payloads,
        "session_list_url": f"?{_query(QueryDict(), session=session_id)}",
    }
    return render_project(request, project, "traces/runs/session.html", context)
