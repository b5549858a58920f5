"""Monthly partitions of traces_step, created on demand before a batch is stored.

Existence is checked with one catalog query per batch rather than cached in the process: a cache goes
stale when a partition is dropped (retention) or rolled back, and the query costs well under a
millisecond against a batch of hundreds of spans.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection, transaction

_LOCK = 0x0A6E7A0E


def month_of_ns(ns: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    return moment.year, moment.month


# Months between a batch's earliest and latest start walked one by one. Further apart (possible only for a
# caller without the endpoint's time window: see traces.ingest.validate), the months are those of the
# starts themselves: walking 1970 .. 2026 once created 683 partitions for two spans, and every later
# query on traces_step planned over all of them.
_MAX_WALK = 24


def months_spanned(starts_ns: Iterable[int]) -> set[tuple[int, int]]:
    """The months a batch's steps land in, as partitions to create: every month from the earliest start's
    to the latest's when they are at most _MAX_WALK months apart (two conversions instead of one per step,
    0.45 µs each, 504 a batch; a month between them that no step needs gets its partition a little early),
    else exactly the steps' own months: never more months than steps, however far apart their starts."""
    starts = list(starts_ns)
    if not starts:
        return set()
    (year, month), last = month_of_ns(min(starts)), month_of_ns(max(starts))
    if (last[0] - year) * 12 + last[1] - month > _MAX_WALK:
        return {month_of_ns(ns) for ns in starts}
    months = {(year, month)}
    while (year, month) < last:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        months.add((year, month))
    return months


def partition_name(year: int, month: int) -> str:
    return f"traces_step_y{year:04d}m{month:02d}"


def ensure_months(months: set[tuple[int, int]]) -> None:
    names = {partition_name(y, m): (y, m) for y, m in months}
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(n) IS NULL", [list(names)])
        missing = sorted(names[row[0]] for row in cursor.fetchall())
    if not missing:
        return
    # Serialized by an advisory lock: concurrent batches of a new month would otherwise race to create
    # the same table, and IF NOT EXISTS does not make concurrent creation safe.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        for year, month in missing:
            nxt = (year + 1, 1) if month == 12 else (year, month + 1)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(year, month)} PARTITION OF traces_step "
                f"FOR VALUES FROM ('{year:04d}-{month:02d}-01') TO ('{nxt[0]:04d}-{nxt[1]:02d}-01') "
                # Rows up to a page stay inline and uncompressed: a step is a few KB, and compressing
                # each (pglz; lz4 is not in every build) cost more CPU than the rest of storing it.
                "WITH (toast_tuple_target = 8160)"
            )
