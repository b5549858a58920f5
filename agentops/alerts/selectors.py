"""Reads for comparisons: the per-run metrics of one bundle of one agent over a window.

The project comes from the tenancy chokepoint. Runs are read newest first through the run_project_agent
index (project, agent, bundle, -start_time), at most MAX_RUNS of them, so that a comparison of a bundle
with a million runs reads its newest MAX_RUNS rather than all. A run still in flight (its root span not
ended and younger than the grace period, default UNFINISHED_GRACE) is left out: its counts are partial.
An older run whose root never ended counts as unfinished. Tool calls and their failures come from the
run's TOOL steps, one primary-key probe per run.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from agentops.alerts.comparison import Sample, ToolSample
from agentops.tenancy.models import Project
from traces.models import Run

UNFINISHED_GRACE = timedelta(minutes=10)
MAX_RUNS = 2000

_TOOL_STEPS = """
WITH runs AS (SELECT * FROM unnest(%(traces)s::uuid[], %(starts)s::timestamptz[]) AS r(trace_id, start_time))
SELECT runs.trace_id, coalesce(s.tool_name, ''), count(*), count(*) FILTER (WHERE s.status = 'error')
FROM runs CROSS JOIN LATERAL (
    SELECT st.tool_name, st.status FROM traces_step st
    WHERE st.project_id = %(project)s AND st.trace_id = runs.trace_id AND st.start_time >= runs.start_time
      AND st.kind = 'TOOL'
) s
GROUP BY 1, 2
"""


def bundle_has_runs(project: Project, *, agent: str, bundle: str | None = None) -> bool:
    runs = Run.objects.filter(project=project, agent=agent)
    return (runs.filter(bundle=bundle) if bundle is not None else runs).exists()


def bundle_sample(
    project: Project,
    *,
    agent: str,
    bundle: str,
    environment: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    grace: timedelta = UNFINISHED_GRACE,
    limit: int = MAX_RUNS,
    with_tools: bool = True,
) -> Sample:
    """`with_tools=False` skips the TOOL steps (the costlier half of the read): tool_errors and tools stay
    empty, so those metrics have no data (drift rules that do not watch them pass it)."""
    now = timezone.now()
    runs = Run.objects.filter(project=project, agent=agent, bundle=bundle, start_time__lt=until or now)
    if environment is not None:
        runs = runs.filter(environment=environment)
    if since is not None:
        runs = runs.filter(start_time__gte=since)
    runs = runs.filter(Q(root_ended=True) | Q(start_time__lt=now - grace))
    rows = list(
        runs.order_by("-start_time").values_list(
            "trace_id", "start_time", "end_time", "root_ended", "error_count", "cost_usd", "input_tokens",
            "output_tokens", "step_count", "llm_calls", "tool_calls", "unpriced_steps",
        )[:limit]
    )  # fmt: skip
    per_run: dict[object, dict[str, tuple[int, int]]] = defaultdict(dict)
    if rows and with_tools:
        with connection.cursor() as cursor:
            cursor.execute(
                _TOOL_STEPS,
                {"project": project.pk, "traces": [r[0] for r in rows], "starts": [r[1] for r in rows]},
            )
            for trace_id, tool, calls, errors in cursor.fetchall():
                per_run[trace_id][tool] = (calls, errors)
    sample = Sample()
    tools: dict[str, list[int]] = {}
    tool_totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, (
        trace_id,
        start,
        end,
        ended,
        errors,
        cost,
        tokens_in,
        tokens_out,
        steps,
        llm,
        tool_calls,
        unpriced,
    ) in enumerate(rows):
        sample.error.append(errors > 0)
        sample.unfinished.append(not ended)
        if ended and end is not None:
            sample.duration_ms.append((end - start).total_seconds() * 1000)
        sample.cost_usd.append(float(cost))
        sample.tokens.append(tokens_in + tokens_out)
        sample.steps.append(steps)
        sample.llm_calls.append(llm)
        sample.tool_calls.append(tool_calls)
        sample.unpriced_steps.append(unpriced)
        if not with_tools:
            continue
        by_tool = per_run.get(trace_id, {})
        sample.tool_errors.append(sum(e for _, e in by_tool.values()))
        for tool, (calls, failed) in by_tool.items():
            if not tool:
                continue
            tools.setdefault(tool, [0] * len(rows))[i] = calls
            tool_totals[tool][0] += calls
            tool_totals[tool][1] += failed
    sample.tools.update({name: ToolSample(calls, *tool_totals[name]) for name, calls in tools.items()})
    return sample
