"""The per-run ledger behind the hourly rollups: what each run last contributed (traces_runrollup), and
the difference a changed run makes, applied to the rollup rows.

`apply_runs(project_id, run_ids, now=...)` brings the rollups up to date with those runs of one project,
in one transaction under the project's rollup lock: for each run whose ledger row is missing or older
than the run (traces_run.updated_at), it computes the run's contribution now (its group, sums, latency
and step-count buckets, and, from its steps, its per-model and per-tool counts), and applies new minus
old to traces_runhour, traces_runhourbreakdown (models, tools) and traces_runhouruser (every end user)
with INSERT ... ON CONFLICT DO UPDATE; rows left at zero are deleted; the touched groups' top users are
taken again from traces_runhouruser; the ledger row is replaced. A run that no longer exists is
retracted. Its cost follows the runs given and their steps, not the size of the hours they fall in.
Returns how many runs it applied and how many hours it touched.

`rebuild_project(project_id, now=...)`: the same rows computed from scratch: the project's ledger from
all its runs (steps read in one join, not a probe per run), then the rollups from the ledger. For the
first refresh, a repair, and as the reference the incremental path must equal.

Both take the project's advisory lock (LOCK_SQL) first and read after it, so two refreshes of one
project queue, and the second sees the first's ledger and applies only what is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from traces.rollup_hist import LATENCY_BUCKET_SQL

# End users are many (a run each, at worst): each hour keeps only its top spenders per (agent, bundle,
# environment) for the dashboards, so "cost by end user" ranks the big ones right and may undercount a
# small one. All of them are kept in traces_runhouruser, from which the top ones are taken again.
TOP_USERS = 10
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('traces.rollups'), %(project)s)"

# Signed contributions of one chunk: +1 rows for the runs as they are, -1 rows for what they were. Made
# once per connection, emptied at commit (and at the start of each chunk, for a caller's transaction).
_DELTA_DDL = """
CREATE TEMP TABLE IF NOT EXISTS rollup_delta (
    run_id bigint NOT NULL, sign integer NOT NULL, hour timestamptz NOT NULL, agent text NOT NULL, bundle text NOT NULL,
    environment text NOT NULL, user_id text NOT NULL, error boolean NOT NULL, cost_usd numeric NOT NULL,
    input_tokens bigint NOT NULL, output_tokens bigint NOT NULL, unpriced_steps bigint NOT NULL,
    steps bigint NOT NULL, tool_calls bigint NOT NULL, latency_bucket integer, models_used jsonb NOT NULL,
    tools_used jsonb NOT NULL
) ON COMMIT DELETE ROWS
"""
_DELTA_COLUMNS = (
    "hour, agent, bundle, environment, user_id, error, cost_usd, input_tokens, output_tokens, unpriced_steps, "
    "steps, tool_calls, latency_bucket, models_used, tools_used"
)
_LEDGER_COLUMNS = f"run_id, project_id, run_updated_at, {_DELTA_COLUMNS}"

# A run's own part of its contribution, for a traces_run aliased r (in the order of _LEDGER_COLUMNS).
_RUN_PART = f"""r.id AS run_id, r.project_id, r.updated_at AS run_updated_at, date_trunc('hour', r.start_time) AS hour,
    r.agent, r.bundle, r.environment, r.user_id, r.error_count > 0 AS error, r.cost_usd, r.input_tokens,
    r.output_tokens, r.unpriced_steps, r.step_count AS steps, r.tool_calls,
    CASE WHEN r.end_time IS NOT NULL THEN {LATENCY_BUCKET_SQL} END AS latency_bucket"""
# Only the steps that count in a breakdown. A step counts in its run's hour, as the run does.
_STEP_FILTER = "(st.model IS NOT NULL OR (st.kind = 'TOOL' AND st.tool_name IS NOT NULL))"
_STEP_COLUMNS = "st.model, st.tool_name, st.kind, st.status, st.cost_usd, st.usage_is_aggregate"
# From `runs` (with _RUN_PART's columns plus trace_id, start_time) and `steps` (run_id and
# _STEP_COLUMNS): per run, {model: [calls, errors, cost]} and {tool: [calls, errors]}, then the rows.
_MAPS_AND_NEW = """
m AS (
    SELECT run_id, jsonb_object_agg(model, jsonb_build_array(n, e, c)) AS models_used FROM (
        SELECT run_id, model, count(*) AS n, count(*) FILTER (WHERE status = 'error') AS e,
               coalesce(sum(cost_usd) FILTER (WHERE NOT usage_is_aggregate), 0) AS c
        FROM steps WHERE model IS NOT NULL GROUP BY 1, 2
    ) x GROUP BY 1
), t AS (
    SELECT run_id, jsonb_object_agg(tool_name, jsonb_build_array(n, e)) AS tools_used FROM (
        SELECT run_id, tool_name, count(*) AS n, count(*) FILTER (WHERE status = 'error') AS e
        FROM steps WHERE kind = 'TOOL' AND tool_name IS NOT NULL GROUP BY 1, 2
    ) x GROUP BY 1
), new AS (
    SELECT runs.run_id, runs.project_id, runs.run_updated_at, runs.hour, runs.agent, runs.bundle,
           runs.environment, runs.user_id, runs.error, runs.cost_usd, runs.input_tokens, runs.output_tokens,
           runs.unpriced_steps, runs.steps, runs.tool_calls, runs.latency_bucket,
           coalesce(m.models_used, '{}') AS models_used, coalesce(t.tools_used, '{}') AS tools_used
    FROM runs LEFT JOIN m USING (run_id) LEFT JOIN t USING (run_id)
)"""

# A run (r) whose ledger row (l) is missing or not of its present version. updated_at alone would do
# between transactions (<>, not <: a transaction that began earlier may commit a change later); the step
# count, which every stored span raises, also tells two versions written in one transaction apart.
CHANGED = "(l.run_id IS NULL OR l.run_updated_at <> r.updated_at OR l.steps <> r.step_count)"

# The chunk's runs whose ledger row is missing or older than they are, and ids whose run is gone.
_COLLECT = f"""
WITH ids AS (SELECT DISTINCT unnest(%(ids)s::bigint[]) AS id),
runs AS (
    SELECT {_RUN_PART}, r.trace_id, r.start_time
    FROM ids JOIN traces_run r ON r.id = ids.id AND r.project_id = %(project)s
    LEFT JOIN traces_runrollup l ON l.run_id = r.id
    WHERE {CHANGED}
), gone AS (
    SELECT l.run_id FROM ids JOIN traces_runrollup l ON l.run_id = ids.id AND l.project_id = %(project)s
    WHERE NOT EXISTS (SELECT FROM traces_run r WHERE r.id = ids.id)
), steps AS (
    -- LATERAL: one primary-key probe (project, trace) per run; a plain join hashed the whole table.
    SELECT runs.run_id, s.* FROM runs CROSS JOIN LATERAL (
        SELECT {_STEP_COLUMNS} FROM traces_step st
        WHERE st.project_id = runs.project_id AND st.trace_id = runs.trace_id AND st.start_time >= runs.start_time
          AND {_STEP_FILTER}
    ) s
), {_MAPS_AND_NEW.strip()}, old AS (
    -- The snapshot of this statement: what the ledger said before the upsert below.
    SELECT run_id, {_DELTA_COLUMNS} FROM traces_runrollup
    WHERE run_id IN (SELECT run_id FROM runs UNION ALL SELECT run_id FROM gone)
), kept AS (
    INSERT INTO traces_runrollup ({_LEDGER_COLUMNS}) SELECT {_LEDGER_COLUMNS} FROM new
    ON CONFLICT (run_id) DO UPDATE SET ({_LEDGER_COLUMNS}) = ({", ".join(f"EXCLUDED.{c.strip()}" for c in _LEDGER_COLUMNS.split(","))})
), dropped AS (
    DELETE FROM traces_runrollup WHERE run_id IN (SELECT run_id FROM gone)
)
INSERT INTO rollup_delta (run_id, sign, {_DELTA_COLUMNS})
SELECT run_id, 1, {_DELTA_COLUMNS} FROM new UNION ALL SELECT run_id, -1, {_DELTA_COLUMNS} FROM old
"""

# Every run of the project, steps read in one pass (a hash join: here every step counts).
_REBUILD_LEDGER = f"""
WITH runs AS (
    SELECT {_RUN_PART}, r.trace_id, r.start_time FROM traces_run r WHERE r.project_id = %(project)s
), steps AS (
    SELECT r.id AS run_id, {_STEP_COLUMNS}
    FROM traces_step st JOIN traces_run r
      ON r.project_id = st.project_id AND r.trace_id = st.trace_id AND st.start_time >= r.start_time
    WHERE st.project_id = %(project)s AND r.project_id = %(project)s AND {_STEP_FILTER}
), {_MAPS_AND_NEW.strip()}
INSERT INTO traces_runrollup ({_LEDGER_COLUMNS}) SELECT {_LEDGER_COLUMNS} FROM new
"""
_LEDGER_TO_DELTA = f"""
INSERT INTO rollup_delta (run_id, sign, {_DELTA_COLUMNS})
SELECT run_id, 1, {_DELTA_COLUMNS} FROM traces_runrollup WHERE project_id = %(project)s
"""
_WIPE = [
    f"DELETE FROM {table} WHERE project_id = %(project)s"
    for table in ("traces_runrollup", "traces_runhouruser", "traces_runhour", "traces_runhourbreakdown")
]


def _hist_delta(column: str) -> str:
    """Per group, {bucket: net runs} of a histogram column of rollup_delta, buckets netting zero left out."""
    return f"""SELECT hour, agent, bundle, environment, jsonb_object_agg({column}, n) AS hist FROM (
        SELECT hour, agent, bundle, environment, {column}, sum(sign) AS n FROM rollup_delta
        WHERE {column} IS NOT NULL GROUP BY 1, 2, 3, 4, 5 HAVING sum(sign) <> 0
    ) x GROUP BY 1, 2, 3, 4"""


def _hist_add(stored: str, delta: str) -> str:
    """A histogram plus a delta, buckets at zero dropped (as a recompute would never write them)."""
    return f"""(SELECT coalesce(jsonb_object_agg(k, n), '{{}}') FROM (
        SELECT k, sum(v) AS n FROM (
            SELECT key AS k, value::text::bigint AS v FROM jsonb_each({stored})
            UNION ALL SELECT key, value::text::bigint FROM jsonb_each({delta})
        ) e GROUP BY k HAVING sum(v) <> 0
    ) s)"""


_SUMMED = ("runs", "errors", "cost_usd", "input_tokens", "output_tokens", "unpriced_steps", "runs_with_unpriced",
           "steps", "tool_calls")  # fmt: skip
_APPLY_HOURS = f"""
WITH lat AS ({_hist_delta("latency_bucket")}), shape AS ({_hist_delta("steps")}), main AS (
    SELECT hour, agent, bundle, environment, sum(sign) AS runs, coalesce(sum(sign) FILTER (WHERE error), 0) AS errors,
           sum(sign * cost_usd) AS cost_usd, sum(sign * input_tokens) AS input_tokens,
           sum(sign * output_tokens) AS output_tokens, sum(sign * unpriced_steps) AS unpriced_steps,
           coalesce(sum(sign) FILTER (WHERE unpriced_steps > 0), 0) AS runs_with_unpriced,
           sum(sign * steps) AS steps, sum(sign * tool_calls) AS tool_calls
    FROM rollup_delta GROUP BY 1, 2, 3, 4
)
INSERT INTO traces_runhour AS h (
    project_id, hour, agent, bundle, environment, {", ".join(_SUMMED)}, latency_hist, steps_hist, computed_at
)
SELECT %(project)s, main.*, coalesce(lat.hist, '{{}}'), coalesce(shape.hist, '{{}}'), %(now)s
FROM main LEFT JOIN lat USING (hour, agent, bundle, environment) LEFT JOIN shape USING (hour, agent, bundle, environment)
ORDER BY hour, agent, bundle, environment
ON CONFLICT (project_id, hour, agent, bundle, environment) DO UPDATE SET
    {", ".join(f"{c} = h.{c} + EXCLUDED.{c}" for c in _SUMMED)},
    latency_hist = {_hist_add("h.latency_hist", "EXCLUDED.latency_hist")},
    steps_hist = {_hist_add("h.steps_hist", "EXCLUDED.steps_hist")},
    computed_at = EXCLUDED.computed_at
RETURNING id, runs
"""
_APPLY_BREAKDOWN = """
INSERT INTO traces_runhourbreakdown AS b (project_id, hour, agent, bundle, environment, dim, key, count, errors, cost_usd)
SELECT %(project)s, * FROM (
    SELECT hour, agent, bundle, environment, 'model' AS dim, e.key, sum(sign * (e.value ->> 0)::bigint) AS n,
           sum(sign * (e.value ->> 1)::bigint) AS errors, sum(sign * (e.value ->> 2)::numeric) AS cost
    FROM rollup_delta, jsonb_each(models_used) e GROUP BY 1, 2, 3, 4, 6
    UNION ALL
    SELECT hour, agent, bundle, environment, 'tool', e.key, sum(sign * (e.value ->> 0)::bigint),
           sum(sign * (e.value ->> 1)::bigint), 0
    FROM rollup_delta, jsonb_each(tools_used) e GROUP BY 1, 2, 3, 4, 6
) d WHERE n <> 0 OR errors <> 0 OR cost <> 0
ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (project_id, hour, agent, bundle, environment, dim, key) DO UPDATE SET
    count = b.count + EXCLUDED.count, errors = b.errors + EXCLUDED.errors, cost_usd = b.cost_usd + EXCLUDED.cost_usd
RETURNING id, count
"""
_APPLY_USERS = """
INSERT INTO traces_runhouruser AS u (project_id, hour, agent, bundle, environment, user_id, runs, errors, cost_usd)
SELECT %(project)s, * FROM (
    SELECT hour, agent, bundle, environment, user_id, sum(sign) AS n,
           coalesce(sum(sign) FILTER (WHERE error), 0) AS errors, sum(sign * cost_usd) AS cost
    FROM rollup_delta GROUP BY 1, 2, 3, 4, 5
) d WHERE n <> 0 OR errors <> 0 OR cost <> 0
ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (project_id, hour, agent, bundle, environment, user_id) DO UPDATE SET
    runs = u.runs + EXCLUDED.runs, errors = u.errors + EXCLUDED.errors, cost_usd = u.cost_usd + EXCLUDED.cost_usd
RETURNING id, runs
"""
_GROUPS = "SELECT DISTINCT hour, agent, bundle, environment FROM rollup_delta"
# The touched groups' top users, again: deleted, then read off runhouruser_top in order (TOP_USERS index
# entries a group). Two statements: an INSERT beside the DELETE would still see the old keys.
_DROP_TOP_USERS = f"""
DELETE FROM traces_runhourbreakdown b USING ({_GROUPS}) g
WHERE b.project_id = %(project)s AND b.dim = 'user' AND b.hour = g.hour AND b.agent = g.agent
  AND b.bundle = g.bundle AND b.environment = g.environment
"""
_TOP_USERS = f"""
INSERT INTO traces_runhourbreakdown (project_id, hour, agent, bundle, environment, dim, key, count, errors, cost_usd)
SELECT %(project)s, g.hour, g.agent, g.bundle, g.environment, 'user', u.user_id, u.runs, u.errors, u.cost_usd
FROM ({_GROUPS}) g CROSS JOIN LATERAL (
    SELECT u.user_id, u.runs, u.errors, u.cost_usd FROM traces_runhouruser u
    WHERE u.project_id = %(project)s AND u.hour = g.hour AND u.agent = g.agent AND u.bundle = g.bundle
      AND u.environment = g.environment
    ORDER BY u.cost_usd DESC, u.runs DESC, u.user_id LIMIT {TOP_USERS}
) u
"""


@dataclass(frozen=True, slots=True)
class Applied:
    runs: int  # contributions replaced (changed, new or gone runs)
    hours: int  # distinct hours whose rollup rows changed


def _apply_delta(cursor: Any, params: dict[str, Any]) -> int:
    """Apply rollup_delta to the rollup tables; returns the number of hours touched."""
    for sql, table in ((_APPLY_HOURS, "traces_runhour"), (_APPLY_BREAKDOWN, "traces_runhourbreakdown"),
                       (_APPLY_USERS, "traces_runhouruser")):  # fmt: skip
        cursor.execute(sql, params)
        empty = [row_id for row_id, count in cursor.fetchall() if count == 0]
        if empty:
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [empty])
    cursor.execute(_DROP_TOP_USERS, params)
    cursor.execute(_TOP_USERS, params)
    cursor.execute("SELECT count(DISTINCT hour) FROM rollup_delta")
    hours: int = cursor.fetchone()[0]
    cursor.execute("DELETE FROM rollup_delta")
    return hours


def apply_runs(project_id: int, run_ids: list[int], *, now: datetime) -> Applied:
    """Bring one project's rollups up to date with these runs (see the module docstring)."""
    params: dict[str, Any] = {"project": project_id, "ids": run_ids, "now": now}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, params)
        cursor.execute(_DELTA_DDL)
        cursor.execute("DELETE FROM rollup_delta")
        cursor.execute(_COLLECT, params)
        if not cursor.rowcount:
            return Applied(0, 0)
        cursor.execute("SELECT count(DISTINCT run_id) FROM rollup_delta")
        changed = cursor.fetchone()[0]
        hours = _apply_delta(cursor, params)
    return Applied(runs=changed, hours=hours)


def rebuild_project(project_id: int, *, now: datetime) -> Applied:
    """Recompute one project's ledger and rollups from scratch, in one transaction."""
    params: dict[str, Any] = {"project": project_id, "now": now}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, params)
        cursor.execute(_DELTA_DDL)
        cursor.execute("DELETE FROM rollup_delta")
        for wipe in _WIPE:
            cursor.execute(wipe, params)
        cursor.execute(_REBUILD_LEDGER, params)
        runs = cursor.rowcount
        cursor.execute(_LEDGER_TO_DELTA, params)
        hours = _apply_delta(cursor, params)
    return Applied(runs=runs, hours=hours)
