"""The decoded form of OTLP spans: what `decode` produces and `normalize` consumes.

Plain data, independent of protobuf and JSON, so that every later stage is a pure function that can be
tested without a server or a database. Nothing mutates a span after decoding; Span is not a frozen
dataclass only because a frozen one sets each field through object.__setattr__, which made building
one four times slower (1.0 µs against 0.2 for ten fields), for every span of every batch.

Attribute values are decoded from OTLP AnyValue to Python: str, bool, int, float, bytes, list
(arrayValue) and dict (kvlistValue); an empty AnyValue is None. Nesting is bounded (MAX_VALUE_DEPTH).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Attributes = dict[str, Any]

# An attribute value nested deeper than this (arrayValue and kvlistValue levels) is cut there: the
# container at level MAX_VALUE_DEPTH + 1 becomes TOO_DEEP, and the span is kept. No SDK nests attributes
# (OTel attributes are flat; nested data is sent as JSON text), so only a hostile or broken sender does,
# and every later walk (conventions, redaction, JSON encoding: orjson stops at 254 levels) stays bounded.
MAX_VALUE_DEPTH = 32
TOO_DEEP = f"[agentops: value nested deeper than {MAX_VALUE_DEPTH} levels, dropped]"


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_unix_nano: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanLink:
    trace_id: bytes
    span_id: bytes
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)
class Span:
    trace_id: bytes  # 16 bytes, not all zero (validated by decode)
    span_id: bytes  # 8 bytes, not all zero
    parent_span_id: bytes | None  # None for a root span
    name: str  # never empty
    kind: int  # 0..5: UNSPECIFIED, INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER
    start_time_unix_nano: int
    end_time_unix_nano: int  # 0 when the span has not ended
    status_code: int  # 0 UNSET, 1 OK, 2 ERROR
    status_message: str
    attributes: Attributes
    events: tuple[SpanEvent, ...]
    links: tuple[SpanLink, ...]
    resource: Attributes  # the resource attributes of the ResourceSpans this span came in
    scope_name: str
    scope_version: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A span that could not be accepted, with the reason to report through partial_success."""

    index: int  # position of the span in the request, counting across resource and scope spans
    reason: str


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    spans: list[Span]
    rejections: list[Rejection]
