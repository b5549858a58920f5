"""The rules every decoded span must pass, whatever its encoding.

Each function returns what is wrong (a message naming the first problem) or None. A span that fails is
rejected alone through partial_success; the rest of its batch is kept. A LOGS payload posted to
/v1/traces parses as traces (same field numbers) with empty ids: the id rules are what reject it.
"""

from __future__ import annotations

from traces.ingest.spans import SpanLink


def id_problem(field: str, value: bytes, size: int) -> str | None:
    if len(value) != size:
        return f"{field} must be {size} bytes ({2 * size} hex characters), got {len(value)}"
    if not any(value):
        return f"{field} must not be all zeros"
    return None


def span_problem(trace_id: bytes, span_id: bytes, parent_span_id: bytes, name: str, start: int, end: int) -> str | None:
    problem = id_problem("traceId", trace_id, 16) or id_problem("spanId", span_id, 8)
    if problem:
        return problem
    if parent_span_id and len(parent_span_id) != 8:
        return f"parentSpanId must be empty or 8 bytes (16 hex characters), got {len(parent_span_id)}"
    if not name:
        return "name must not be empty"
    if not start:
        return "startTimeUnixNano is required"
    if end and end < start:
        return f"endTimeUnixNano ({end}) is before startTimeUnixNano ({start})"
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
