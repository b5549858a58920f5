"""Logs and metrics exports posted to /v1/traces: told apart from a broken trace export, and answered
with what to fix.

An exporter pointed at the wrong path (an OTEL_EXPORTER_OTLP_LOGS_ENDPOINT set to .../v1/traces, say)
sends a logs or metrics export here. Without a look at the other signals, a protobuf logs export with
trace context failed as an undecodable body (400), and an OTLP/JSON one decoded as an empty trace export
and was answered 200 with nothing stored, without a word.

A logs export's records are rejected one by one through partial_success, as invalid spans are (the
exporter is told how many were dropped, why, and that /v1/logs takes them, and does not retry). A metrics export is a 400: its
data points are not spans or records to count.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from traces.ingest.errors import DecodeError
from traces.ingest.spans import Rejection

LOGS = (
    "this is an OTLP logs export, and /v1/traces takes traces only: send logs to /v1/logs "
    "(OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=<agentops>/v1/logs), or turn the logs exporter off (OTEL_LOGS_EXPORTER=none)"
)
METRICS = (
    "body is an OTLP metrics export, and /v1/traces takes traces only: send metrics to a metrics receiver, "
    "or turn the metrics exporter off (OTEL_METRICS_EXPORTER=none)"
)


def _log_rejections(count: int) -> list[Rejection]:
    return [Rejection(index=i, reason=f"log record {i}: {LOGS}") for i in range(count)]


def protobuf_rejections(body: bytes) -> list[Rejection] | None:
    """For a body that is not a trace export, or whose every span is invalid: a rejection per record if
    it is a logs export; None if it is nothing we know. Raises DecodeError naming a metrics export.

    Logs and metrics exports share their outer field numbers with a trace export, so one often reads
    as spans without ids. What they are is told by what only they carry: a record's time, severity or
    body; a metric's name and data.
    """
    # Metrics first: a metric's gauge reads as a log record's body, while a record's time (field 1, a
    # fixed64) never reads as a metric's name (field 1, a string).
    try:
        metrics = ExportMetricsServiceRequest.FromString(body)
    except (ProtobufDecodeError, ValueError):
        pass
    else:
        found = [m for resource in metrics.resource_metrics for scope in resource.scope_metrics for m in scope.metrics]
        if any(m.name and m.WhichOneof("data") for m in found):
            raise DecodeError(METRICS)
    try:
        logs = ExportLogsServiceRequest.FromString(body)
    except (ProtobufDecodeError, ValueError):
        return None
    records = [r for resource in logs.resource_logs for scope in resource.scope_logs for r in scope.log_records]
    if any(r.time_unix_nano or r.observed_time_unix_nano or r.severity_number or r.HasField("body") for r in records):
        return _log_rejections(len(records))
    return None


def json_rejections(document: dict[str, Any]) -> list[Rejection] | None:
    """For an OTLP/JSON body without resourceSpans: a rejection per record if it is a logs export; None
    if it is not a logs or metrics export. Raises DecodeError naming a metrics export."""
    resource_logs = document.get("resourceLogs", document.get("resource_logs"))
    if isinstance(resource_logs, list):
        count = 0
        for resource in resource_logs:
            scopes = resource.get("scopeLogs", resource.get("scope_logs")) if isinstance(resource, dict) else None
            for scope in scopes if isinstance(scopes, list) else ():
                records = scope.get("logRecords", scope.get("log_records")) if isinstance(scope, dict) else None
                count += len(records) if isinstance(records, list) else 0
        # A logs export with no records loses nothing: answered as the empty trace export it reads as.
        return _log_rejections(count) if count else None
    if isinstance(document.get("resourceMetrics", document.get("resource_metrics")), list):
        raise DecodeError(METRICS)
    return None
