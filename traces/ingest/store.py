"""Store a batch of staged steps and merge their runs' aggregates, in one transaction.

1. COPY the steps straight into traces_step, in a savepoint. Almost every batch is new, and this is
   the cheapest way in: about 12 µs of database CPU a step, against 29 for the stage + INSERT ... ON
   CONFLICT + SQL aggregates this replaced (bench/ingest.py's batches, measured alone).
2. If a step is stored already (an exporter's retry, or the same span from two exporters), the COPY
   fails on the primary key, the savepoint is rolled back, and the batch goes the careful way: COPY into
   a temporary stage, INSERT ... ON CONFLICT DO NOTHING, and RETURNING says which steps are new.
3. Only the new steps are aggregated (traces.ingest.runs, in Python: one row per run) and merged into
   traces_run: sums and counts add, minima and maxima merge, ranked values keep the better rank. So a
   retried batch adds nothing, and a run is the same whatever order and grouping its spans arrive in.
4. The new steps' words (traces.ingest.words) are merged into their runs' search documents.

Concurrent batches of one trace cannot deadlock: both ways insert steps in (trace, span) order and
merge runs in trace order, so every batch takes its locks in one order. (A COPY that meets a key another
open transaction is inserting waits for it, like the INSERT would.)

The caller commits; acknowledging the export only after that is what makes it durable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from django.db import connection, transaction

from traces.ingest.columns import RUN_COLUMNS, STAGE_COLUMNS, STEP_COLUMNS
from traces.ingest.rows import step_values
from traces.ingest.runs import run_rows
from traces.ingest.words import MAX_WORDS, run_words
from traces.models import Run

_STEP_COLS_SQL = ", ".join(STEP_COLUMNS)
_RUN_COLS_SQL = ", ".join(RUN_COLUMNS)
_TRACE, _SPAN, _START_NS = (STAGE_COLUMNS.index(name) for name in ("trace_id", "span_id", "start_ns"))
_KEY = itemgetter(_TRACE, _SPAN)

# Created once per connection, emptied by every commit (a TRUNCATE per batch would rewrite the
# catalog each time) and by the INSERT that reads it, for a second batch in the same transaction
# (tests, bench/seed_scale.py). Typed as traces_step, so a bad value fails here as it would there.
_STAGE_DDL = f"""
CREATE TEMP TABLE IF NOT EXISTS step_stage WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS AS
    SELECT {_STEP_COLS_SQL} FROM traces_step WITH NO DATA
"""

_INSERT_NEW = f"""
WITH staged AS (DELETE FROM step_stage RETURNING *)  -- in the key order of the COPY: see _insert_new
INSERT INTO traces_step ({_STEP_COLS_SQL})
SELECT {_STEP_COLS_SQL} FROM staged
ON CONFLICT DO NOTHING
RETURNING trace_id, span_id, (extract(epoch FROM start_time) * 1000000)::bigint  -- exact: numeric
"""


def _ranked(column: str, rank: str, wins: str = "") -> str:
    """SET a ranked value (the agent, the context) and its rank to the incoming ones when those win: the
    lower rank, ties to the lower text. A value stored without a rank (context stored before its ranks
    were kept) counts as rank 0, which only the root's -1 outranks."""
    wins = wins or (
        f"EXCLUDED.{column} <> '' AND (r.{column} = '' OR EXCLUDED.{rank} < coalesce(r.{rank}, 0)"
        f' OR (EXCLUDED.{rank} = r.{rank} AND EXCLUDED.{column} < r.{column} COLLATE "C"))'
    )
    return (
        f"{column} = CASE WHEN {wins} THEN EXCLUDED.{column} ELSE r.{column} END,\n"
        f"    {rank} = CASE WHEN {wins} THEN EXCLUDED.{rank} ELSE r.{rank} END"
    )


def _derived(models: str, tools: str) -> str:
    """A run with no explicit bundle id and no service.version gets one derived from the models and tools
    it used, so that a change of either shows up as a new bundle; recomputed as its steps arrive."""
    return f"'auto-' || left(md5(array_to_string({models}, ',') || '|' || array_to_string({tools}, ',')), 10)"


def _union(column: str) -> str:
    """A merged array: the stored values and the batch's, each once, in codepoint order."""
    return f'ARRAY(SELECT DISTINCT v COLLATE "C" FROM unnest(r.{column} || EXCLUDED.{column}) v ORDER BY 1)'


# A new run's columns as staged, but for a bundle it has none of: derived.
_NEW_RUN_SQL = ", ".join(
    {
        "bundle": f"CASE bundle_source WHEN '' THEN {_derived('models_used', 'tools_used')} ELSE bundle END",
        "bundle_source": "CASE bundle_source WHEN '' THEN 'derived' ELSE bundle_source END",
    }.get(column, column)
    for column in RUN_COLUMNS
)
# EXCLUDED is the row as the SELECT above made it: a batch without a bundle of its own proposes a
# derived one, which never wins (the run's is derived again from everything it used).
_BUNDLE_WINS = (
    "EXCLUDED.bundle_source IN ('explicit', 'service_version') AND (r.bundle_source IN ('', 'derived')"
    " OR (EXCLUDED.bundle_source = 'explicit' AND r.bundle_source = 'service_version')"
    ' OR (EXCLUDED.bundle_source = r.bundle_source AND EXCLUDED.bundle < r.bundle COLLATE "C"))'
)

# The batch's runs arrive as one JSON parameter: 42 runs a batch took 0.4 ms of the web worker's CPU to
# COPY into a stage (psycopg's dumpers of arrays and decimals), 0.1 to write as JSON. They merge by
# the rules of traces.ingest.runs; texts compare in codepoint order, as Python's do, whatever the
# database's collation.
_RUN_TYPES = {field.attname: field.db_type(connection) for field in Run._meta.concrete_fields}
_MERGE_RUNS = f"""
INSERT INTO traces_run AS r ({_RUN_COLS_SQL}, updated_at)
SELECT {_NEW_RUN_SQL}, now()
FROM jsonb_to_recordset(%s::jsonb) AS staged({", ".join(f"{c} {_RUN_TYPES[c]}" for c in RUN_COLUMNS)})
ORDER BY project_id, trace_id
ON CONFLICT (project_id, trace_id) DO UPDATE SET
    root_span_id = coalesce(EXCLUDED.root_span_id, r.root_span_id),
    name = CASE WHEN EXCLUDED.root_span_id IS NOT NULL THEN EXCLUDED.name ELSE r.name END,
    {_ranked("agent", "agent_rank")},
    -- As within one batch, the lowest (source, id) wins: services of one run may each send a version.
    -- Without either, the bundle is derived from the models and tools the run has used so far.
    bundle = CASE WHEN {_BUNDLE_WINS} THEN EXCLUDED.bundle
                  WHEN r.bundle_source IN ('', 'derived') THEN {_derived(_union("models_used"), _union("tools_used"))}
                  ELSE r.bundle END,
    bundle_source = CASE WHEN {_BUNDLE_WINS} THEN EXCLUDED.bundle_source
                         WHEN r.bundle_source IN ('', 'derived') THEN 'derived'
                         ELSE r.bundle_source END,
    {_ranked("environment", "environment_rank")},
    {_ranked("session_id", "session_rank")},
    {_ranked("user_id", "user_rank")},
    start_time = least(r.start_time, EXCLUDED.start_time),
    end_time = greatest(r.end_time, EXCLUDED.end_time),
    root_ended = r.root_ended OR EXCLUDED.root_ended,
    step_count = r.step_count + EXCLUDED.step_count,
    llm_calls = r.llm_calls + EXCLUDED.llm_calls,
    tool_calls = r.tool_calls + EXCLUDED.tool_calls,
    error_count = r.error_count + EXCLUDED.error_count,
    input_tokens = r.input_tokens + EXCLUDED.input_tokens,
    output_tokens = r.output_tokens + EXCLUDED.output_tokens,
    cache_read_tokens = r.cache_read_tokens + EXCLUDED.cache_read_tokens,
    cache_write_tokens = r.cache_write_tokens + EXCLUDED.cache_write_tokens,
    reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens,
    cost_usd = r.cost_usd + EXCLUDED.cost_usd,
    unpriced_steps = r.unpriced_steps + EXCLUDED.unpriced_steps,
    reported_cost_usd = CASE WHEN r.reported_cost_usd IS NULL AND EXCLUDED.reported_cost_usd IS NULL THEN NULL
        ELSE coalesce(r.reported_cost_usd, 0) + coalesce(EXCLUDED.reported_cost_usd, 0) END,
    models_used = {_union("models_used")},
    tools_used = {_union("tools_used")},
    tags = {_union("tags")},
    -- Ties keep the stored resource: within a batch, rows.stage breaks them by the resource's JSON.
    {_ranked("resource", "resource_rank", wins="EXCLUDED.resource_rank < coalesce(r.resource_rank, 0) OR r.resource = '{}'")},
    input_preview = CASE WHEN EXCLUDED.input_preview_ns IS NOT NULL
        AND (r.input_preview_ns IS NULL OR EXCLUDED.input_preview_ns < r.input_preview_ns)
        THEN EXCLUDED.input_preview ELSE r.input_preview END,
    input_preview_ns = least(r.input_preview_ns, EXCLUDED.input_preview_ns),
    output_preview = CASE WHEN EXCLUDED.output_preview_ns IS NOT NULL
        AND (r.output_preview_ns IS NULL OR EXCLUDED.output_preview_ns > r.output_preview_ns)
        THEN EXCLUDED.output_preview ELSE r.output_preview END,
    output_preview_ns = greatest(r.output_preview_ns, EXCLUDED.output_preview_ns),
    updated_at = now()
RETURNING r.id, r.project_id, r.trace_id
"""


# Each run's new words merged into its search document (traces.models.RunWords), tokenized as the
# query is (traces.filters). Locked in run order; every batch holds its runs' rows before it comes here
# (above), so two batches cannot deadlock on documents. (Retention deletes documents without their
# runs' locks; a deadlock with it aborts one side, and an aborted ingest answers 503 and is retried.)
# A document at MAX_WORDS words stops growing: a run with more is still found by its first ones.
_MERGE_WORDS = f"""
INSERT INTO traces_runwords AS w (run_id, project_id, words)
SELECT run_id, project_id, strip(to_tsvector('simple'::regconfig, agentops_search_words(words)))
FROM jsonb_to_recordset(%s::jsonb) AS staged(run_id bigint, project_id bigint, words text)
ORDER BY run_id
ON CONFLICT (run_id) DO UPDATE SET
    words = CASE WHEN length(w.words) >= {MAX_WORDS} THEN w.words ELSE w.words || EXCLUDED.words END
"""


@dataclass(frozen=True, slots=True)
class StoreResult:
    steps_inserted: int
    runs_touched: int


def store_rows(rows: Sequence[Sequence[Any]]) -> StoreResult:
    """Store staged rows (in STAGE_COLUMNS order) and merge their runs. Must run inside a transaction,
    with the partitions of the rows' months created beforehand (traces.partitions.ensure_months)."""
    if not rows:
        return StoreResult(0, 0)
    rows = sorted(rows, key=_KEY)  # the one lock order of every batch (one project per batch)
    with connection.cursor() as cursor:
        pg = cursor.cursor  # the psycopg cursor: COPY is not part of the DB-API
        pg.execute(_STAGE_DDL)
        try:
            with transaction.atomic():  # a savepoint: a stored step fails the COPY, not the transaction
                _copy(pg, "traces_step", STEP_COLUMNS, map(step_values, rows))
            new = rows
        except psycopg.errors.UniqueViolation:
            new = _insert_new(pg, rows)
        if not new:
            return StoreResult(0, 0)
        pg.execute(_MERGE_RUNS, [_runs_json(run_rows(new))])
        run_ids = {(project, trace.hex): run_id for run_id, project, trace in pg.fetchall()}
        merge_words(pg, run_ids, run_words(new))
    return StoreResult(steps_inserted=len(new), runs_touched=len(run_ids))


def merge_words(
    pg: psycopg.Cursor[Any], run_ids: dict[tuple[int, str], int], words: dict[tuple[int, str], str]
) -> None:
    if words:
        documents = [{"run_id": run_ids[run], "project_id": run[0], "words": text} for run, text in words.items()]
        pg.execute(_MERGE_WORDS, [orjson.dumps(documents).decode()])


def _copy(pg: psycopg.Cursor[Any], table: str, columns: Sequence[str], values: Iterable[Sequence[Any]]) -> None:
    with pg.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)


def _runs_json(runs: list[list[Any]]) -> str:
    resource = RUN_COLUMNS.index("resource")
    for run in runs:
        run[resource] = orjson.Fragment(run[resource])  # JSON text already: embedded as it is
    return orjson.dumps([dict(zip(RUN_COLUMNS, run, strict=True)) for run in runs], default=str).decode()


def _insert_new(pg: psycopg.Cursor[Any], rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Insert the rows not stored yet; the new ones. The INSERT reads the stage with a plain scan,
    which returns a fresh temporary table's rows in the order they were copied (key order): were that
    order ever lost, two overlapping batches could deadlock, and Postgres would abort one; the endpoint
    would answer 503 and the exporter retry, storing nothing twice and losing nothing."""
    _copy(pg, "step_stage", STEP_COLUMNS, map(step_values, rows))
    pg.execute(_INSERT_NEW)
    inserted = {(trace.hex, span, start_us) for trace, span, start_us in pg.fetchall()}
    return [row for row in rows if (row[_TRACE], row[_SPAN], row[_START_NS] // 1000) in inserted]
