"""Bounding an OTLP request body before and after decompression.

`read_bounded` reads the raw body from a stream without ever holding more than the limit (+1 byte);
`read_request_body` does so for a Django request, chunked bodies (no Content-Length) included;
`decompress` undoes Content-Encoding (gzip, deflate as zlib or raw, identity) and stops as soon as the
output passes the limit, so a compressed bomb costs at most the limit plus one chunk of memory.

Errors: `TooLarge` (413) when a limit is passed; `DecodeError` (400) for a corrupt or truncated stream;
`UnsupportedMediaType` (415) for an unknown Content-Encoding: RFC 9110 section 15.5.16 names 415 for a
content coding the server does not support, and the client cannot fix it by retrying the same body.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, Protocol

from traces.ingest.errors import DecodeError, TooLarge, UnsupportedMediaType

# The OTLP spec recommends limiting the body after decompression; 64 MiB is the Collector's default.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Output produced per step of decompression: the most the limit can be overshot in memory.
CHUNK_BYTES = 256 * 1024
_INPUT_CHUNK_BYTES = 64 * 1024

SUPPORTED_ENCODINGS = "gzip, deflate, identity"

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def read_bounded(stream: Readable, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """Read a whole body from `stream`, refusing one longer than `max_bytes` without reading it all."""
    chunks: list[bytes] = []
    total = 0
    while True:
        # As much as the limit allows in one call (a stream returns at most the body; memory stays
        # bounded by the limit): gunicorn buffers the body and copies what is left of it on every
        # read, so 256 KiB at a time cost ~1 ms of copying for a 785 KiB batch.
        chunk = stream.read(max_bytes + 1 - total)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(f"request body is larger than {max_bytes} bytes")
        chunks.append(chunk)


class Request(Protocol):
    """What `read_request_body` needs of a Django HttpRequest (and what tests can give it)."""

    @property
    def META(self) -> Mapping[str, Any]: ...  # read-only here, so that HttpRequest's dict fits

    def read(self, size: int = ..., /) -> bytes: ...


def read_request_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The whole raw body of an OTLP request, at most `max_bytes` long, with or without Content-Length.

    Django wraps the WSGI input in a stream of CONTENT_LENGTH bytes, 0 when the header is missing: a
    `Transfer-Encoding: chunked` body (the OpenTelemetry JS exporter's, a Collector's, any streaming
    client's) would read as empty. A server that de-chunks the body and ends the input at its end says
    so with `wsgi.input_terminated` (gunicorn does); then the input itself is read, to its end, within
    the same bound. A server that does not (Django's runserver) would block on that read, so there the
    body stays what Django gives.
    """
    environ = request.META
    if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
        return read_bounded(environ["wsgi.input"], max_bytes)
    return read_bounded(request, max_bytes)


def _coding(encoding: str | None) -> str:
    codings = [c.strip().lower() for c in (encoding or "").split(",")]
    codings = [c for c in codings if c not in ("", "identity", "none")]
    if not codings:
        return "identity"
    if len(codings) > 1:
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} stacks several codings; supported: {SUPPORTED_ENCODINGS}"
        )
    coding = codings[0]
    if coding == "x-gzip":
        return "gzip"
    if coding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; supported: {SUPPORTED_ENCODINGS}")
    return coding


def _looks_like_zlib(body: bytes) -> bool:
    # RFC 1950: CM = 8 (deflate) in the low nibble and the 16-bit header is a multiple of 31. Exporters
    # send "deflate" both as zlib (what the spec means) and as raw deflate (what some servers expect).
    return len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0


def decompress(body: bytes, encoding: str | None, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """Return `body` without its Content-Encoding, at most `max_bytes` long."""
    coding = _coding(encoding)
    # The raw body is held to the limit too, before any work is spent inflating it.
    if len(body) > max_bytes:
        raise TooLarge(f"request body is larger than {max_bytes} bytes")
    if coding == "identity":
        return body
    if coding == "gzip":
        return _inflate(body, _GZIP, max_bytes, "gzip", members=True)
    return _inflate(body, _ZLIB if _looks_like_zlib(body) else _RAW_DEFLATE, max_bytes, "deflate")


def _inflate(body: bytes, wbits: int, max_bytes: int, name: str, members: bool = False) -> bytes:
    if not body:
        return b""
    chunks: list[bytes] = []
    total = 0
    view = memoryview(body)
    offset = 0
    data: bytes | memoryview = b""
    stream = zlib.decompressobj(wbits)
    try:
        while True:
            # Input goes in by slices too: zlib copies what it has not consumed (unconsumed_tail) on every
            # call, and that copy of a whole 1 MB bomb, 256 times over, is memory and time for nothing.
            if not data and offset < len(view):
                data, offset = view[offset : offset + _INPUT_CHUNK_BYTES], offset + _INPUT_CHUNK_BYTES
            if stream.eof:
                rest = len(data) + max(0, len(view) - offset)
                if not rest:
                    break
                if not members:
                    raise DecodeError(f"{rest} bytes of trailing garbage after the {name} stream")
                stream = zlib.decompressobj(wbits)  # gzip allows several members back to back
            chunk = stream.decompress(data, CHUNK_BYTES)
            total += len(chunk)
            if total > max_bytes:
                raise TooLarge(f"request body is larger than {max_bytes} bytes after {name} decompression")
            chunks.append(chunk)
            data = stream.unused_data if stream.eof else stream.unconsumed_tail
            if not (chunk or data or stream.eof or offset < len(view)):
                raise DecodeError(f"{name} stream is truncated")
    except zlib.error as exc:
        raise DecodeError(f"body is not valid {name}: {exc}") from exc
    return b"".join(chunks)
