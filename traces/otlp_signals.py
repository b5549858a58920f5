"""POST /v1/logs and /v1/metrics: the OTLP/HTTP receivers of the other two signals, and an OTLP answer
for any other path under /v1/.

Both take the body as /v1/traces does (traces.otlp): protobuf or JSON, gzip, deflate or none, an
ingest key (`Authorization: Bearer aok_...` or `x-api-key`), the same size limits; and answer in the
request's encoding, errors as a google.rpc.Status.

/v1/logs takes an ExportLogsServiceRequest. Records that carry a trace id and a span id are stored
(traces_logrecord) and shown with their step, as its span events are; the others are rejected one by
one through partial_success saying why (the rest are kept). Answers:
- 200 with an empty ExportLogsServiceResponse once every kept record is committed, or with
  partial_success {rejected_log_records, error_message naming the first problem};
- 400 undecodable body (nothing stored), 401 missing/wrong/revoked key, 405 not a POST, 413 too large,
  415 unsupported Content-Type or Content-Encoding;
- 503 with Retry-After when the database cannot take the batch: nothing acknowledged is lost.

/v1/metrics stores nothing: agentops keeps traces. It answers 200 with partial_success rejecting every
data point (of every metric type), with a message saying how to turn the metrics exporter off; so an
SDK's metrics pipeline, on by default in several agent frameworks, logs one clear line instead of an
HTML 404. The key is still required (401 without one), and a body that is not a metrics export is 400.

Any other path under /v1/ (/v1/profiles, a typo) is a 404 with a google.rpc.Status naming the paths
agentops takes, never an HTML page an exporter cannot read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from agentops.tenancy.models import IngestKey
from agentops.tenancy.selectors import active_ingest_key
from traces.ingest import limits
from traces.ingest import logs as log_ingest
from traces.ingest import metrics as metric_ingest
from traces.ingest.decode import media_type
from traces.ingest.errors import IngestError
from traces.otlp import UNAUTHENTICATED, UNAVAILABLE, UNIMPLEMENTED, _ingest_secret, _status
from traces.selectors import ingest_config
from traces.services import ingest_logs

log = logging.getLogger("traces.ingest")

NOT_FOUND = 5  # google.rpc.Code
PATHS = "/v1/traces, /v1/logs and /v1/metrics"


def _read_body(request: HttpRequest) -> bytes:
    """The request's body, bounded before and after decompression; a chunked one (no Content-Length, as
    the JavaScript exporters send every body) read whole, as /v1/traces reads it."""
    raw = limits.read_request_body(request, settings.INGEST_MAX_BODY_BYTES)
    return limits.decompress(raw, request.headers.get("Content-Encoding"), settings.INGEST_MAX_BODY_BYTES)


def _receive(request: HttpRequest, path: str, handle: Callable[[IngestKey, bytes, str], HttpResponse]) -> HttpResponse:
    """The shared front of a receiver: method, key, body, and the mapping of every failure to its answer.
    `handle(key, body, media)` decodes and stores, and builds the 200."""
    content_type = request.headers.get("Content-Type")
    if request.method != "POST":
        response = _status(405, UNIMPLEMENTED, f"only POST is supported on {path}", content_type)
        response["Allow"] = "POST"
        return response
    try:
        media = media_type(content_type)
        secret = _ingest_secret(request)
        if not secret:
            return _status(401, UNAUTHENTICATED, "missing ingest key: send 'Authorization: Bearer <key>'", content_type)
        key = active_ingest_key(secret)
        if key is None:
            return _status(401, UNAUTHENTICATED, "invalid or revoked ingest key", content_type)
        return handle(key, _read_body(request), media)
    except IngestError as exc:
        log.info(
            "ingest rejected",
            extra={"event": "ingest.rejected", "path": path, "status": exc.http_status, "reason": exc.message},
        )
        return _status(exc.http_status, exc.rpc_code, exc.message, content_type)
    # Raw psycopg errors too, as traces.otlp catches them: the same answer for the same failure.
    except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        log.warning("ingest unavailable", extra={"event": "ingest.unavailable", "path": path, "error": str(exc)})
        return _status(
            503, UNAVAILABLE, "the database is unavailable; retry later", content_type,
            Retry_After=str(settings.INGEST_RETRY_AFTER_SECONDS),
        )  # fmt: skip
    except (DatabaseError, psycopg.DatabaseError) as exc:
        # e.g. a lock not granted within INGEST_LOCK_TIMEOUT_MS: the batch was rolled back whole.
        log.warning("ingest store failed", extra={"event": "ingest.store_failed", "path": path, "error": str(exc)})
        return _status(
            503, UNAVAILABLE, "the batch could not be stored; retry later", content_type,
            Retry_After=str(settings.INGEST_RETRY_AFTER_SECONDS),
        )  # fmt: skip


def _store_logs(key: IngestKey, body: bytes, media: str) -> HttpResponse:
    started = time.perf_counter()
    decoded = log_ingest.decode_logs_request(body, media)
    result = ingest_logs(config=ingest_config(key.project_id), decoded=decoded)
    log.info(
        "logs stored",
        extra={
            "event": "ingest.logs_stored",
            "project": key.project_id,
            "records": result.received,
            "stored": result.stored,
            "rejected": len(result.rejected),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    answer = log_ingest.encode_logs_response(len(result.rejected), result.rejection_message, media)
    return HttpResponse(answer, content_type=media)


def _refuse_metrics(key: IngestKey, body: bytes, media: str) -> HttpResponse:
    points = metric_ingest.count_data_points(body, media)
    log.info("metrics refused", extra={"event": "ingest.metrics_refused", "project": key.project_id, "points": points})
    return HttpResponse(metric_ingest.encode_metrics_response(points, media), content_type=media)


@csrf_exempt
def export_logs(request: HttpRequest) -> HttpResponse:
    return _receive(request, "/v1/logs", _store_logs)


@csrf_exempt
def export_metrics(request: HttpRequest) -> HttpResponse:
    return _receive(request, "/v1/metrics", _refuse_metrics)


@csrf_exempt
def unknown_signal(request: HttpRequest) -> HttpResponse:
    message = f"{request.path} is not an OTLP path agentops serves; it takes {PATHS}"
    return _status(404, NOT_FOUND, message, request.headers.get("Content-Type"))
