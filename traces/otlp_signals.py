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

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from traces import receive
from traces.ingest import logs as log_ingest
from traces.ingest import metrics as metric_ingest
from traces.ingest.decode import media_type
from traces.ingest.errors import IngestError
from traces.otlp import UNAUTHENTICATED, UNAVAILABLE, UNIMPLEMENTED, read_body, request_project, status_response
from traces.selectors import ingest_config
from traces.services import ingest_logs

log = logging.getLogger("traces.ingest")

NOT_FOUND = 5  # google.rpc.Code
PATHS = "/v1/traces, /v1/logs and /v1/metrics"


def _receive(request: HttpRequest, path: str, handle: Callable[[int, bytes, str], HttpResponse]) -> HttpResponse:
    """The front /v1/traces has too (traces.otlp, traces.receive): method, key, body, and each failure's
    answer. `handle(project_id, body, media)` decodes and stores, and builds the 200."""
    content_type = request.headers.get("Content-Type")
    if request.method != "POST":
        response = status_response(405, UNIMPLEMENTED, f"only POST is supported on {path}", content_type)
        response["Allow"] = "POST"
        return response
    try:
        media = media_type(content_type)
        project_id = request_project(request)
        body = read_body(request)
        with receive.unavailable_on_database_errors(path=path):
            return handle(project_id, body, media)
    except receive.Unauthenticated as exc:
        return status_response(401, UNAUTHENTICATED, str(exc), content_type)
    except IngestError as exc:
        receive.log_rejected(exc, status=exc.http_status, path=path)
        return status_response(exc.http_status, exc.rpc_code, exc.message, content_type)
    except receive.Unavailable as exc:
        return status_response(
            503, UNAVAILABLE, str(exc), content_type, Retry_After=str(settings.INGEST_RETRY_AFTER_SECONDS)
        )


def _store_logs(project_id: int, body: bytes, media: str) -> HttpResponse:
    started = time.perf_counter()
    decoded = log_ingest.decode_logs_request(body, media)
    result = ingest_logs(config=ingest_config(project_id), decoded=decoded)
    log.info(
        "logs stored",
        extra={
            "event": "ingest.logs_stored",
            "project": project_id,
            "records": result.received,
            "stored": result.stored,
            "rejected": len(result.rejected),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    answer = log_ingest.encode_logs_response(len(result.rejected), result.rejection_message, media)
    return HttpResponse(answer, content_type=media)


def _refuse_metrics(project_id: int, body: bytes, media: str) -> HttpResponse:
    points = metric_ingest.count_data_points(body, media)
    log.info("metrics refused", extra={"event": "ingest.metrics_refused", "project": project_id, "points": points})
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
    return status_response(404, NOT_FOUND, message, request.headers.get("Content-Type"))
