"""POST /v1/traces: the OTLP/HTTP trace receiver.

Takes an ExportTraceServiceRequest (protobuf or JSON; gzip, deflate or no compression; with a
Content-Length or chunked) authenticated by a project's ingest key (`Authorization: Bearer aok_...` or `x-api-key`). Answers, in the request's
encoding:
- 200 with an empty ExportTraceServiceResponse once every valid span is committed, or with
  partial_success naming the first problem when some spans were rejected (the rest are stored); a logs
  export posted here has each record rejected so, saying what it is (traces.ingest.signals);
- 400 undecodable body (or a metrics export), 401 missing/wrong/revoked key, 405 not a POST, 413 body
  over the limit before or after decompression, 415 unsupported Content-Type or Content-Encoding: each
  a google.rpc.Status saying what to fix, and none retried by exporters;
- 503 with Retry-After when the database cannot take the batch (unreachable, or a lock not granted
  within INGEST_LOCK_TIMEOUT_MS), so the exporter retries and nothing acknowledged is ever lost
  (nothing is acknowledged before its commit).
"""

from __future__ import annotations

import logging
import time

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from agentops.heap import collections_paused
from agentops.tenancy.selectors import active_ingest_key
from traces.ingest import decode, limits
from traces.ingest.errors import IngestError
from traces.selectors import ingest_config
from traces.services import IngestResult, ingest_batch

log = logging.getLogger("traces.ingest")

UNAUTHENTICATED = 16  # google.rpc.Code
UNAVAILABLE = 14
UNIMPLEMENTED = 12


def _status(http: int, code: int, message: str, content_type: str | None, **headers: str) -> HttpResponse:
    media = decode.response_media_type(content_type)
    response = HttpResponse(decode.encode_status(code, message, media), status=http, content_type=media)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _ingest_secret(request: HttpRequest) -> str:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return secret.strip()
    return request.headers.get("x-api-key", "").strip()


def _ingest(body: bytes, media: str, project_id: int) -> IngestResult:
    # Its own function so that the decoded batch is freed on return, while collections are still paused.
    batch = decode.decode_request(body, media)
    return ingest_batch(config=ingest_config(project_id), batch=batch)


@csrf_exempt
def export_traces(request: HttpRequest) -> HttpResponse:
    content_type = request.headers.get("Content-Type")
    if request.method != "POST":
        response = _status(405, UNIMPLEMENTED, "only POST is supported on /v1/traces", content_type)
        response["Allow"] = "POST"
        return response
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        media = decode.media_type(content_type)
        secret = _ingest_secret(request)
        if not secret:
            return _status(401, UNAUTHENTICATED, "missing ingest key: send 'Authorization: Bearer <key>'", content_type)
        key = active_ingest_key(secret)
        if key is None:
            return _status(401, UNAUTHENTICATED, "invalid or revoked ingest key", content_type)
        raw = limits.read_request_body(request, settings.INGEST_MAX_BODY_BYTES)
        body = limits.decompress(raw, request.headers.get("Content-Encoding"), settings.INGEST_MAX_BODY_BYTES)
        with collections_paused():
            result = _ingest(body, media, key.project_id)
    except IngestError as exc:
        log.info(
            "ingest rejected", extra={"event": "ingest.rejected", "status": exc.http_status, "reason": exc.message}
        )
        return _status(exc.http_status, exc.rpc_code, exc.message, content_type)
    # The store talks to psycopg directly (COPY), so its errors arrive unwrapped by Django: both kinds.
    except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        log.warning("ingest unavailable", extra={"event": "ingest.unavailable", "error": str(exc)})
        return _status(
            503, UNAVAILABLE, "the database is unavailable; retry later", content_type,
            Retry_After=str(settings.INGEST_RETRY_AFTER_SECONDS),
        )  # fmt: skip
    except (DatabaseError, psycopg.DatabaseError) as exc:
        # e.g. serialization failures or lock timeouts under load: the batch was rolled back whole.
        log.warning("ingest store failed", extra={"event": "ingest.store_failed", "error": str(exc)})
        return _status(
            503, UNAVAILABLE, "the batch could not be stored; retry later", content_type,
            Retry_After=str(settings.INGEST_RETRY_AFTER_SECONDS),
        )  # fmt: skip
    log.info(
        "ingest stored",
        extra={
            "event": "ingest.stored",
            "project": key.project_id,
            "spans": result.received,
            "stored": result.stored,
            "rejected": len(result.rejected),
            "runs": result.runs,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "cpu_ms": round((time.process_time() - cpu_started) * 1000, 1),
        },
    )
    body = decode.encode_response(len(result.rejected), result.rejection_message, media)
    return HttpResponse(body, content_type=media)
