"""Reads for the run list and the session thread pages.

Every function costs one query whatever the project's size: the list and the live fragment walk the
(project, start_time, id) index from the newest run; the filter choices look only at the newest runs;
a session's runs come from the (project, session_id, start_time) index.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from agentops.approvals.models import ApprovalRequest
from agentops.budgets.models import RunawayRun
from agentops.tenancy.models import Project
from traces.filters import RunFilters, approvals_of_outer_run, page
from traces.models import Run

# Previews are the run's payload: not even read for callers who may not see them.
PREVIEW_FIELDS = ("input_preview", "output_preview")
# Filter choices come from this many of the newest runs: a fixed cost at a million runs (one index walk
# of a few thousand entries), and what is being sent now is what one filters for. An older value can
# still be typed: the inputs offer these values, they do not restrict to them.
CHOICE_WINDOW = 5000
MAX_CHOICES = 100
LIVE_LIMIT = 50
SESSION_LIMIT = 500


@dataclass(frozen=True)
class FilterChoices:
    agents: list[str] = field(default_factory=list)
    bundles: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)


def _runs(project: Project, *, payloads: bool) -> QuerySet[Run]:
    runs = Run.objects.filter(project=project).defer("resource", "tags")
    return runs if payloads else runs.defer(*PREVIEW_FIELDS)


def run_list_page(
    project: Project, filters: RunFilters, cursor: tuple[datetime, int] | None, limit: int, *, payloads: bool
) -> tuple[list[Run], str | None]:
    """One page of the project's runs, newest first, and the cursor of the next (older) page."""
    return page(filters.apply(_runs(project, payloads=payloads)), cursor, limit)


def runs_created_after(project: Project, filters: RunFilters, after_id: int, *, payloads: bool) -> list[Run]:
    """Runs matching `filters` stored since the run `after_id` (ids only grow), newest first.

    By id, not start time: a run whose spans arrive late is new to the list even if it started earlier.
    """
    runs = filters.apply(_runs(project, payloads=payloads)).filter(id__gt=after_id)
    return list(runs.order_by("-start_time", "-id")[:LIVE_LIMIT])


def runs_updated_since(project: Project, ids: list[int], since: datetime, *, payloads: bool) -> list[Run]:
    """Those of the runs `ids` (rows a page shows) written to since `since`, or whose approval request
    was asked or decided since, or found runaway since: that changes the row's marks, not the run."""
    if not ids:
        return []
    asked_or_decided = approvals_of_outer_run().filter(Q(created_at__gt=since) | Q(decided_at__gt=since))
    found_runaway = RunawayRun.objects.filter(
        project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id"), detected_at__gt=since
    )
    changed = Q(updated_at__gt=since) | Exists(asked_or_decided) | Exists(found_runaway)
    return list(_runs(project, payloads=payloads).filter(changed, id__in=ids))


def waiting_for_approval(project: Project, runs: list[Run]) -> set[uuid.UUID]:
    """Which of `runs` (the rows a page shows) have an approval request pending: one query on the
    (project, trace_id) index, for these runs only, whatever the project's size."""
    if not runs:
        return set()
    pending = ApprovalRequest.objects.filter(
        project=project, state=ApprovalRequest.State.PENDING, trace_id__in=[run.trace_id.hex for run in runs]
    )
    return {uuid.UUID(hex=trace) for trace in pending.order_by().values_list("trace_id", flat=True).distinct()}


def runaway_runs(project: Project, runs: list[Run]) -> set[uuid.UUID]:
    """Which of `runs` (the rows a page shows) went past their agent's step cap: one query on the
    runaway table's (project, trace_id) key, for these runs only, whatever the project's size."""
    if not runs:
        return set()
    recorded = RunawayRun.objects.filter(project=project, trace_id__in=[run.trace_id for run in runs])
    return set(recorded.order_by().values_list("trace_id", flat=True))


_CHOICES_SQL = """
WITH recent AS (
    SELECT agent, bundle, environment, models_used, tools_used FROM traces_run
    WHERE project_id = %(project)s ORDER BY start_time DESC, id DESC LIMIT %(window)s
)
SELECT
    ARRAY(SELECT DISTINCT agent FROM recent WHERE agent <> '' ORDER BY 1 LIMIT %(max)s),
    ARRAY(SELECT DISTINCT bundle FROM recent WHERE bundle <> '' ORDER BY 1 LIMIT %(max)s),
    ARRAY(SELECT DISTINCT environment FROM recent WHERE environment <> '' ORDER BY 1 LIMIT %(max)s),
    ARRAY(SELECT DISTINCT m FROM recent, unnest(models_used) AS m ORDER BY 1 LIMIT %(max)s),
    ARRAY(SELECT DISTINCT t FROM recent, unnest(tools_used) AS t ORDER BY 1 LIMIT %(max)s)
"""


def filter_choices(project: Project) -> FilterChoices:
    """Agents, bundles, environments, models and tools seen in the project's newest runs, sorted."""
    with connection.cursor() as cursor:
        cursor.execute(_CHOICES_SQL, {"project": project.pk, "window": CHOICE_WINDOW, "max": MAX_CHOICES})
        row = cursor.fetchone()
    assert row is not None  # an aggregate row always comes back
    return FilterChoices(*(list(values) for values in row))


def session_runs(project: Project, session_id: str, *, payloads: bool) -> tuple[list[Run], bool]:
    """The session's runs in start order (the first SESSION_LIMIT), and whether there are more."""
    runs = list(
        _runs(project, payloads=payloads)
        .filter(session_id=session_id)
        .order_by("start_time", "id")[: SESSION_LIMIT + 1]
    )
    return runs[:SESSION_LIMIT], len(runs) > SESSION_LIMIT
