"""The whole-hour recompute: one project's rollup rows of some hours, deleted and computed again from
every run that started in them (and those runs' steps).

This was the refresh before the per-run ledger (traces.rollup_ledger). It is kept as an independent
reference: the tests check the ledger's rollups against it, and bench/rollups.py measures it beside the
incremental refresh. It writes traces_runhour and traces_runhourbreakdown only (not RunRollup nor
RunHourUser); its rows equal the ledger's for the same runs, so running it leaves the rollups right.

`recompute_hours(project_id, hours, now=...)`: hours are hour starts; an hour with no runs left ends up
with no rows. Takes the project's rollup lock (traces.rollup_ledger.LOCK_SQL), so it queues behind a
refresh instead of colliding with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction

from traces.rollup_hist import LATENCY_BUCKET_SQL
from traces.rollup_ledger import LOCK_SQL, TOP_USERS

# %(hours)s is a list of hour starts, %(project)s the project: one chunk of one project's hours. The
# DELETEs are statements of their own: an INSERT in the same statement would still see the old keys.
_DELETES = [
    f"DELETE FROM {table} WHERE project_id = %(project)s AND hour = ANY(%(hours)s::timestamptz[])"
    for table in ("traces_runhour", "traces_runhourbreakdown")
]
_RECOMPUTE = f"""
WITH hours AS (SELECT unnest(%(hours)s::timestamptz[]) AS hour),
runs AS (
    SELECT r.project_id, hours.hour, r.agent, r.bundle, r.environment, r.user_id, r.trace_id, r.start_time,
           r.error_count, r.cost_usd, r.input_tokens, r.output_tokens, r.unpriced_steps, r.step_count,
           r.tool_calls, CASE WHEN r.end_time IS NOT NULL THEN {LATENCY_BUCKET_SQL} END AS lat
    FROM hours JOIN traces_run r
      ON r.project_id = %(project)s AND r.start_time >= hours.hour AND r.start_time < hours.hour + interval '1 hour'
), lat AS (
    SELECT project_id, hour, agent, bundle, environment, jsonb_object_agg(lat, n) AS hist FROM (
        SELECT project_id, hour, agent, bundle, environment, lat, count(*) AS n FROM runs
        WHERE lat IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6
    ) x GROUP BY 1, 2, 3, 4, 5
), shape AS (
    SELECT project_id, hour, agent, bundle, environment, jsonb_object_agg(step_count, n) AS hist FROM (
        SELECT project_id, hour, agent, bundle, environment, step_count, count(*) AS n FROM runs
        GROUP BY 1, 2, 3, 4, 5, 6
    ) x GROUP BY 1, 2, 3, 4, 5
), main AS (
    SELECT project_id, hour, agent, bundle, environment, count(*) AS runs,
           count(*) FILTER (WHERE error_count > 0) AS errors, coalesce(sum(cost_usd), 0) AS cost_usd,
           coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
           coalesce(sum(unpriced_steps), 0) AS unpriced_steps,
           count(*) FILTER (WHERE unpriced_steps > 0) AS runs_with_unpriced,
           coalesce(sum(step_count), 0) AS steps, coalesce(sum(tool_calls), 0) AS tool_calls
    FROM runs GROUP BY 1, 2, 3, 4, 5
), ins AS (
    INSERT INTO traces_runhour (
        project_id, hour, agent, bundle, environment, runs, errors, cost_usd, input_tokens, output_tokens,
        unpriced_steps, runs_with_unpriced, steps, tool_calls, latency_hist, steps_hist, computed_at
    )
    SELECT main.*, coalesce(lat.hist, '{{}}'), coalesce(shape.hist, '{{}}'), %(now)s
    FROM main LEFT JOIN lat USING (project_id, hour, agent, bundle, environment)
              LEFT JOIN shape USING (project_id, hour, agent, bundle, environment)
), steps AS (
    -- LATERAL: one primary-key probe (project, trace) per run. A plain join let Postgres, which cannot
    -- estimate the hours' runs (654 in one measured hour; it guessed 111,476), hash the whole steps
    -- table: 7.7 s an hour at 12M steps, against milliseconds this way.
    SELECT runs.project_id, runs.hour, runs.agent, runs.bundle, runs.environment, s.kind, s.model,
           s.tool_name, s.status, s.cost_usd, s.usage_is_aggregate
    FROM runs CROSS JOIN LATERAL (
        SELECT st.kind, st.model, st.tool_name, st.status, st.cost_usd, st.usage_is_aggregate
        FROM traces_step st
        WHERE st.project_id = runs.project_id AND st.trace_id = runs.trace_id AND st.start_time >= runs.start_time
    ) s
)
INSERT INTO traces_runhourbreakdown (project_id, hour, agent, bundle, environment, dim, key, count, errors, cost_usd)
SELECT project_id, hour, agent, bundle, environment, 'user', user_id, n, errors, cost FROM (
    SELECT project_id, hour, agent, bundle, environment, user_id, count(*) AS n,
           count(*) FILTER (WHERE error_count > 0) AS errors, coalesce(sum(cost_usd), 0) AS cost,
           row_number() OVER (PARTITION BY project_id, hour, agent, bundle, environment
                              ORDER BY coalesce(sum(cost_usd), 0) DESC, count(*) DESC, user_id) AS rank
    FROM runs GROUP BY 1, 2, 3, 4, 5, 6
) u WHERE rank <= {TOP_USERS}
UNION ALL
SELECT project_id, hour, agent, bundle, environment, 'model', model, count(*),
       count(*) FILTER (WHERE status = 'error'), coalesce(sum(cost_usd) FILTER (WHERE NOT usage_is_aggregate), 0)
FROM steps WHERE model IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 7
UNION ALL
SELECT project_id, hour, agent, bundle, environment, 'tool', tool_name, count(*),
       count(*) FILTER (WHERE status = 'error'), 0
FROM steps WHERE kind = 'TOOL' AND tool_name IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 7
"""


def recompute_hours(project_id: int, hours: list[datetime], *, now: datetime) -> None:
    """Recompute one project's rollup rows of the given hour starts, whole, in one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        params: dict[str, Any] = {"hours": hours, "project": project_id, "now": now}
        cursor.execute(LOCK_SQL, params)
        for delete in _DELETES:
            cursor.execute(delete, params)
        cursor.execute(_RECOMPUTE, params)
