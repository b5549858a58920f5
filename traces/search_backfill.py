"""Search documents for runs stored before ingest kept them (migration 0014), built from their steps.

Ingest writes a run's document as its steps arrive (traces.ingest.store); runs stored before that have
none, and search finds them by their previews only; a run that was still arriving at the upgrade has
one with only its later steps' words, which answers for it instead of its previews. So
`backfill_documents` walks every run in id order, a batch a transaction, and merges into its document
the words of all its stored steps, as ingest would have (traces.ingest.words: from the texts as stored,
so payloads already expired or redacted add nothing). Merged, not replaced: a run that ingest adds to
meanwhile keeps those words, and running it twice changes nothing.
`agentops search_backfill` runs it; it can be stopped and started again (`--after` the last id printed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

from traces.ingest.columns import STAGE_COLUMNS
from traces.ingest.store import merge_words
from traces.ingest.words import run_words

log = logging.getLogger(__name__)

BATCH = 500

_RUNS = "SELECT id, project_id, trace_id FROM traces_run WHERE id > %s ORDER BY id LIMIT %s"
# What traces.ingest.words reads of a step, by the (project, trace) key of traces_step's index.
_READ = ("error_type", "error_message", "tool_name", "input", "output")
_STEPS = f"""
SELECT s.project_id, s.trace_id, {", ".join(f"s.{c}::text" for c in _READ)}
FROM traces_step s JOIN unnest(%s::bigint[], %s::uuid[]) AS run(project_id, trace_id)
  ON s.project_id = run.project_id AND s.trace_id = run.trace_id
"""
_AT = [STAGE_COLUMNS.index(name) for name in ("project_id", "trace_id", *_READ)]


def backfill_documents(
    *, after: int = 0, batch: int = BATCH, progress: Callable[[int, int], None] | None = None
) -> int:
    """Give every run with an id above `after` and no document one from its steps; the runs given one.
    `progress(done, last_id)` after each batch."""
    done = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_RUNS, [after, batch])
            runs = cursor.fetchall()
            if not runs:
                return done
            cursor.execute(_STEPS, [[r[1] for r in runs], [r[2] for r in runs]])
            rows = [_staged(step) for step in cursor.fetchall()]
            words = run_words(rows)
            merge_words(cursor.cursor, {(project, trace.hex): run_id for run_id, project, trace in runs}, words)
        done += len(words)
        after = runs[-1][0]
        if progress is not None:
            progress(done, after)


def _staged(step: tuple[Any, ...]) -> list[Any]:
    """A step as the staged row traces.ingest.words reads (the columns it reads; None elsewhere)."""
    row: list[Any] = [None] * len(STAGE_COLUMNS)
    for position, value in zip(_AT, (step[0], step[1].hex, *step[2:]), strict=True):
        row[position] = value
    return row
