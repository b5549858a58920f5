"""Errors of the ingest front (limits and decode) that fail a whole request.

Each carries the HTTP status the endpoint answers with and the google.rpc.Code for the Status body, so
the endpoint maps them in one `except IngestError` without a table of its own. Problems with single
spans are not errors: they become `Rejection`s and the rest of the batch is kept.
"""

from __future__ import annotations

from typing import ClassVar

# google.rpc.Code values used in Status bodies.
INVALID_ARGUMENT = 3
RESOURCE_EXHAUSTED = 8


class IngestError(Exception):
    http_status: ClassVar[int] = 400
    rpc_code: ClassVar[int] = INVALID_ARGUMENT

    @property
    def message(self) -> str:
        return str(self)


class DecodeError(IngestError):
    """The body cannot be read as an OTLP trace request (bad protobuf, bad JSON, corrupt gzip)."""


class UnsupportedMediaType(IngestError):
    """An unsupported Content-Type or Content-Encoding."""

    http_status = 415


class TooLarge(IngestError):
    """The body, before or after decompression, is over the limit."""

    http_status = 413
    rpc_code = RESOURCE_EXHAUSTED


class LengthRequired(IngestError):
    """A chunked body on a server that cannot say where it ends (no wsgi.input_terminated)."""

    http_status = 411
