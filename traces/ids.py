"""Trace and span ids: OTLP bytes <-> stored uuid / signed bigint <-> lowercase hex in the API."""

from __future__ import annotations

import uuid

_HEX = frozenset("0123456789abcdef")


def trace_uuid(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=raw)


def span_int(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


def span_hex(value: int | None) -> str | None:
    if value is None:
        return None
    return (value & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "big").hex()


def span_from_hex(text: str) -> int:
    """Parse 16 hex characters; ValueError otherwise."""
    text = text.lower()
    if len(text) != 16 or not set(text) <= _HEX:
        raise ValueError(f"a span id is 16 hex characters, got {text!r}")
    return span_from_valid_hex(text)


def span_from_valid_hex(text: str) -> int:
    """16 hex characters known to be valid (ingest makes them from the span's bytes) as the stored
    signed bigint: the 64 bits as they are. Unchecked, for every span id of every batch."""
    value = int(text, 16)
    return value - (1 << 64) if value >= (1 << 63) else value


def trace_from_hex(text: str) -> uuid.UUID:
    text = text.lower()
    if len(text) != 32 or not set(text) <= _HEX:
        raise ValueError(f"a trace id is 32 hex characters, got {text!r}")
    return uuid.UUID(hex=text)
