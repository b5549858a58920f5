"""traces.ids: span ids as OTLP bytes, stored signed bigints and API hex agree, whichever way they go."""

from __future__ import annotations

import pytest

from traces.ids import span_from_hex, span_from_valid_hex, span_hex, span_int


@pytest.mark.parametrize("raw", [b"\x00" * 7 + b"\x01", b"\x7f" + b"\xff" * 7, b"\x80" + b"\x00" * 7, b"\xff" * 8])
def test_a_span_id_reads_the_same_from_bytes_and_from_hex_and_round_trips(raw: bytes) -> None:
    stored = span_int(raw)
    assert span_from_valid_hex(raw.hex()) == stored == span_from_hex(raw.hex().upper())
    assert span_hex(stored) == raw.hex()
    assert -(2**63) <= stored < 2**63


@pytest.mark.parametrize("text", ["", "abc", "0" * 17, "g" * 16])
def test_a_malformed_span_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="16 hex characters"):
        span_from_hex(text)
