"""POST /v1/traces: the OTLP/HTTP trace receiver.

Takes an ExportTraceServiceRequest (protobuf or JSON; gzip, deflate or no compression; with a
Content-Length or chunked) authenticated by a project's ingest key (`Authorization: Bearer aok_...` or
`x-api-key`), and stores it as OTLP/gRPC does (traces.receive). Answers, in the request's encoding:
- 200 with an empty ExportTraceServiceResponse once every valid span is committed, or with
  partial_success naming the first problem when some spans were rejected (the rest are stored); a logs
  export posted here has each record rejected so, saying what it is (traces.ingest.signals);
- 400 undecodable body (or a metrics export), 401 missing/wrong/revoked key, 405 not a POST, 411 a
  chunked body under a WSGI server that cannot end it (gunicorn can; Django's runserver cannot), 413 body
  over the limit before or after decompression, 415 unsupported Content-Type or Content-Encoding: each
  a google.rpc.Status saying what to fix, and none retried by exporters;
- 503 with Retry-After when the database cannot take the batch (unreachable, or a lock not granted
  within INGEST_LOCK_TIMEOUT_MS), so the exporter retries and nothing acknowledged is ever lost
  (nothing is acknowledged before its commit).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from traces import receive
from traces.ingest import decode, limits
from traces.ingest.errors import IngestError

UNAUTHENTICATED = 16  # google.rpc.Code
UNAVAILABLE = 14
UNIMPLEMENTED = 12


def status_response(http: int, code: int, message: str, content_type: str | None, **headers: str) -> HttpResponse:
    media = decode.response_media_type(content_type)
    response = HttpResponse(decode.encode_status(code, message, media), status=http, content_type=media)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def request_project(request: HttpRequest) -> int:
    """The project of the request's ingest key (receive.authenticate), before its body is read: a request
    without a valid key costs no more than its headers. Every OTLP/HTTP receiver starts here."""
    secret = receive.ingest_secret(request.headers.get("Authorization", ""), request.headers.get("x-api-key", ""))
    return receive.authenticate(secret)


def read_body(request: HttpRequest) -> bytes:
    """The request's body, chunked or not, bounded before and after decompression (413 past the limit)."""
    raw = limits.read_request_body(request, settings.INGEST_MAX_BODY_BYTES)
    return limits.decompress(raw, request.headers.get("Content-Encoding"), settings.INGEST_MAX_BODY_BYTES)


@csrf_exempt
def export_traces(request: HttpRequest) -> HttpResponse:
    content_type = request.headers.get("Content-Type")
    if request.method != "POST":
        response = status_response(405, UNIMPLEMENTED, "only POST is supported on /v1/traces", content_type)
        response["Allow"] = "POST"
        return response
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        media = decode.media_type(content_type)
        project_id = request_project(request)
        result = receive.store(read_body(request), media, project_id, started=started, cpu_started=cpu_started)
    except receive.Unauthenticated as exc:
        return status_response(401, UNAUTHENTICATED, str(exc), content_type)
    except IngestError as exc:
        receive.log_rejected(exc, status=exc.http_status)
        return status_response(exc.http_status, exc.rpc_code, exc.message, content_type)
    except receive.Unavailable as exc:
        return status_response(
            503, UNAVAILABLE, str(exc), content_type, Retry_After=str(settings.INGEST_RETRY_AFTER_SECONDS)
        )
    body = decode.encode_response(len(result.rejected), result.rejection_message, media)
    return HttpResponse(body, content_type=media)
