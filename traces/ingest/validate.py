"""The rules every decoded span must pass, whatever its encoding.

Each function returns what is wrong (a message naming the first problem) or None. A span that fails is
rejected alone through partial_success; the rest of its batch is kept. A LOGS payload posted to
/v1/traces parses as traces (same field numbers) with empty ids: the id rules are what reject it.

Times must fall in a `TimeWindow` (the endpoint's is now - INGEST_MAX_SPAN_AGE_DAYS .. now +
INGEST_MAX_SPAN_AHEAD_SECONDS). A span outside it is rejected, not clamped: steps are partitioned by
their start month, and a start of 1970 or 2262 would create a partition per month in between (683 for
one span at epoch + 1 ns), locking the table for every tenant; a clamped time would instead draw the
span at a moment it did not happen, with a made-up duration. The rejection tells the sender its clock
(or its encoder) is wrong, which is the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from traces.ingest.spans import SpanLink

_NS = 1_000_000_000
# The last nanosecond a bigint column (and traces.ingest.rows) can hold: 2262-04-11.
MAX_STORABLE_NS = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The span times accepted, in Unix nanoseconds, inclusive."""

    earliest_ns: int
    latest_ns: int
    # What to tell the sender about the bounds (the settings that set them).
    source: str = ""

    @classmethod
    def around(cls, now_ns: int, max_age_seconds: int, max_ahead_seconds: int, source: str = "") -> TimeWindow:
        return cls(
            max(1, now_ns - max_age_seconds * _NS), min(MAX_STORABLE_NS, now_ns + max_ahead_seconds * _NS), source
        )


# Without a window from the caller (tests, tools decoding a recorded batch): whatever can be stored.
STORABLE = TimeWindow(1, MAX_STORABLE_NS, "timestamps after 2262-04-11 cannot be stored")


def _iso(ns: int) -> str:
    try:
        return datetime.fromtimestamp(ns // _NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return "beyond year 9999"


def _outside(field: str, ns: int, window: TimeWindow) -> str:
    source = f" ({window.source})" if window.source else ""
    return (
        f"{field} {ns} ({_iso(ns)}) is outside the accepted window {_iso(window.earliest_ns)} .. "
        f"{_iso(window.latest_ns)}{source}; check the sender's clock"
    )


def id_problem(field: str, value: bytes, size: int) -> str | None:
    if len(value) != size:
        return f"{field} must be {size} bytes ({2 * size} hex characters), got {len(value)}"
    if not any(value):
        return f"{field} must not be all zeros"
    return None


def span_problem(
    trace_id: bytes,
    span_id: bytes,
    parent_span_id: bytes,
    name: str,
    start: int,
    end: int,
    window: TimeWindow = STORABLE,
) -> str | None:
    problem = id_problem("traceId", trace_id, 16) or id_problem("spanId", span_id, 8)
    if problem:
        return problem
    if parent_span_id and len(parent_span_id) != 8:
        return f"parentSpanId must be empty or 8 bytes (16 hex characters), got {len(parent_span_id)}"
    if not name:
        return "name must not be empty"
    if not start:
        return "startTimeUnixNano is required"
    # Two comparisons per span: the times are at hand here, and this is before anything is built.
    if not window.earliest_ns <= start <= window.latest_ns:
        return _outside("startTimeUnixNano", start, window)
    if end:
        if end < start:
            return f"endTimeUnixNano ({end}) is before startTimeUnixNano ({start})"
        if end > window.latest_ns:
            return _outside("endTimeUnixNano", end, window)
    return None


def parent_or_none(parent_span_id: bytes) -> bytes | None:
    # Some SDKs write an all-zero parent for a root span.
    return parent_span_id if any(parent_span_id) else None


def links_problem(links: tuple[SpanLink, ...]) -> str | None:
    for position, link in enumerate(links):
        problem = id_problem("traceId", link.trace_id, 16) or id_problem("spanId", link.span_id, 8)
        if problem:
            return f"link {position}: {problem}"
    return None
