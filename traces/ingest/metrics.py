"""POST /v1/metrics: agentops stores traces, not metrics. A metrics export is decoded only to count its
data points (of every metric type), all of which the answer rejects through partial_success, saying how
to turn the exporter off. Pure: no database.

`count_data_points` raises DecodeError (400) for a body that is not an ExportMetricsServiceRequest, and
UnsupportedMediaType (415) for a Content-Type other than protobuf or JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from traces.ingest import decode_json as dj
from traces.ingest.decode import JSON, PROTOBUF, media_type, response_media_type
from traces.ingest.errors import DecodeError
from traces.ingest.logs import load_json

METRICS_MESSAGE = "agentops stores traces, not metrics; set OTEL_METRICS_EXPORTER=none (or remove the metrics pipeline)"


def encode_metrics_response(rejected: int, content_type: str | None) -> bytes:
    """An ExportMetricsServiceResponse rejecting `rejected` data points with METRICS_MESSAGE."""
    if response_media_type(content_type) == JSON:
        partial = {"rejectedDataPoints": str(rejected), "errorMessage": METRICS_MESSAGE}
        return orjson.dumps({"partialSuccess": partial})
    partial_pb = ExportMetricsPartialSuccess(rejected_data_points=rejected, error_message=METRICS_MESSAGE)
    return ExportMetricsServiceResponse(partial_success=partial_pb).SerializeToString()


# --- metrics: counted, not kept ---------------------------------------------------------------------

_DATA_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_JSON_DATA_KINDS = (
    ("gauge", "gauge"),
    ("sum", "sum"),
    ("histogram", "histogram"),
    ("exponentialHistogram", "exponential_histogram"),
    ("summary", "summary"),
)


def count_data_points(body: bytes, content_type: str) -> int:
    """The data points of every metric type in an ExportMetricsServiceRequest. DecodeError (400) for a
    body that is not one, UnsupportedMediaType (415) for another Content-Type."""
    if media_type(content_type) == PROTOBUF:
        try:
            request = ExportMetricsServiceRequest.FromString(body)
        except (ProtobufDecodeError, ValueError) as exc:
            raise DecodeError(f"body is not a valid OTLP ExportMetricsServiceRequest protobuf: {exc}") from exc
        count = 0
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    if kind in _DATA_KINDS:
                        count += len(getattr(metric, kind).data_points)
        return count
    document = load_json(body)
    try:
        count = 0
        for resource in dj._list(document, "resourceMetrics", "resource_metrics"):
            for scope in dj._list(_dict(resource), "scopeMetrics", "scope_metrics"):
                for metric in dj._list(_dict(scope), "metrics", "metrics"):
                    for camel, snake in _JSON_DATA_KINDS:
                        data = dj._get(_dict(metric), camel, snake)
                        if data is not None:
                            count += len(dj._list(_dict(data), "dataPoints", "data_points"))
        return count
    except dj._Invalid as exc:
        raise DecodeError(f"not an OTLP metrics export: {exc}") from None


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise dj._Invalid(f"expected an object, got {type(value).__name__}")
    return value
