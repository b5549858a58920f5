"""Monthly partitions of traces_step, created on demand before a batch is stored."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection, transaction

_LOCK = 0x0A6E7A0E
# Months known to exist in this process: the common case costs no query at all.
_known: set[tuple[int, int]] = set()


def month_of_ns(ns: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    return moment.year, moment.month


def partition_name(year: int, month: int) -> str:
    return f"traces_step_y{year:04d}m{month:02d}"


def ensure_months(months: set[tuple[int, int]]) -> None:
    missing = months - _known
    if not missing:
        return
    # Its own transaction, serialized by an advisory lock: concurrent batches of a new month would
    # otherwise race to create the same table.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        for year, month in sorted(missing):
            nxt = (year + 1, 1) if month == 12 else (year, month + 1)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(year, month)} PARTITION OF traces_step "
                f"FOR VALUES FROM ('{year:04d}-{month:02d}-01') TO ('{nxt[0]:04d}-{nxt[1]:02d}-01')"
            )
    _known.update(missing)


def forget() -> None:
    """Forget the months known to exist (tests drop and recreate the database)."""
    _known.clear()
