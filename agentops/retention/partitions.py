"""Dropping whole monthly partitions of traces_step (traces.partitions), shared by every project.

A partition may go only when every step in it is past every project's step retention (the longest
step_days of all projects, projects keeping steps for ever forbidding any drop) and it holds no step of a
protected run of any project. Then detaching and dropping it costs the same for a million steps as for
one, where deleting them row by row would not. Otherwise the per-project batches (expiry.py) delete.

Detached CONCURRENTLY when not inside a transaction (the beat job), which does not block ingest's
inserts into the parent table; plain DETACH in a transaction (tests), under a short lock timeout either
way so that the job gives up rather than queue ingest behind it.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime

from django.db import DatabaseError, connection, transaction

log = logging.getLogger(__name__)

_NAME = re.compile(r"^traces_step_y(\d{4})m(\d{2})$")
LOCK_TIMEOUT = "5s"


def step_partitions() -> list[tuple[str, datetime]]:
    """(name, end of its month) of every partition of traces_step, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'traces_step'::regclass"
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        match = _NAME.match(name)
        if match:
            year, month = int(match[1]), int(match[2])
            end = datetime(year + 1, 1, 1, tzinfo=UTC) if month == 12 else datetime(year, month + 1, 1, tzinfo=UTC)
            found.append((name, end))
    return sorted(found, key=lambda item: item[1])


def _holds(name: str, kept: list[tuple[int, uuid.UUID]]) -> bool:
    if not kept:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::uuid[]) k(p, t) "
            f"JOIN {name} s ON s.project_id = k.p AND s.trace_id = k.t)",
            [[p for p, _ in kept], [t for _, t in kept]],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _drop(name: str) -> None:
    with connection.cursor() as cursor:
        if connection.in_atomic_block:  # SET LOCAL: undone with the savepoint if the detach fails
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"ALTER TABLE traces_step DETACH PARTITION {name}")
            cursor.execute(f"DROP TABLE {name}")
            return
        cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        try:
            cursor.execute(f"ALTER TABLE traces_step DETACH PARTITION {name} CONCURRENTLY")
            cursor.execute(f"DROP TABLE {name}")
        finally:
            cursor.execute("SET lock_timeout = DEFAULT")


def drop_expired_partitions(before: datetime | None, kept: list[tuple[int, uuid.UUID]]) -> list[str]:
    """Drop the partitions that end at or before `before` (None: none) and hold no kept run's step."""
    if before is None:
        return []
    dropped = []
    for name, end in step_partitions():
        if end > before:
            break
        if _holds(name, kept):
            continue
        try:
            if connection.in_atomic_block:
                with transaction.atomic():
                    _drop(name)
            else:
                _drop(name)
        except DatabaseError as exc:  # a lock not granted in time: the next day tries again
            log.warning(
                "partition not dropped", extra={"event": "retention.partition", "partition": name, "error": str(exc)}
            )
            continue
        log.info("partition dropped", extra={"event": "retention.partition_dropped", "partition": name})
        dropped.append(name)
    return dropped
