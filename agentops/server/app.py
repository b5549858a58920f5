"""Builds the application a web worker serves: the front (front.py) before Django's WSGI application on
a fixed pool of threads (a2wsgi). A fixed pool, not a thread per request: Django's persistent database
connections belong to a thread, and each thread keeps its own across requests."""

from __future__ import annotations

from a2wsgi import WSGIMiddleware
from django.conf import settings

from agentops.server.front import Front, Limits, Scope
from agentops.server.park import Hub, django_conninfo

# google.rpc.Code of the front's refusals, as the OTLP receivers answer them.
_RPC_CODES = {408: 4, 413: 8, 503: 14}  # DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE


def error_body(status: int, message: str, scope: Scope) -> tuple[str, bytes]:
    """OTLP receivers (/v1/...) answer a google.rpc.Status in the request's encoding; the rest plain text."""
    if not scope["path"].startswith("/v1/"):
        return "text/plain; charset=utf-8", message.encode() + b"\n"
    from traces.ingest import decode

    content_type = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"content-type"), None)
    media = decode.response_media_type(content_type)
    return media, decode.encode_status(_RPC_CODES.get(status, 14), message, media)


def limits(threads: int) -> Limits:
    return Limits(
        slots=threads,
        queue=settings.WEB_QUEUE_PER_THREAD * threads,
        queue_timeout=settings.WEB_QUEUE_TIMEOUT_SECONDS,
        body_timeout=settings.WEB_BODY_TIMEOUT_SECONDS,
        body_idle_timeout=settings.WEB_BODY_IDLE_TIMEOUT_SECONDS,
        max_body_bytes=settings.INGEST_MAX_BODY_BYTES,
        max_inflight_body_bytes=settings.WEB_MAX_INFLIGHT_BODY_BYTES,
        retry_after=settings.INGEST_RETRY_AFTER_SECONDS,
    )


def build(threads: int) -> Front:
    from agentops.wsgi import application

    # a2wsgi's types describe WSGI applications more narrowly than Django's handler declares itself.
    wsgi = WSGIMiddleware(application, workers=threads)  # type: ignore[arg-type]
    return Front(wsgi, limits(threads), error_body, Hub(django_conninfo))  # type: ignore[arg-type]
