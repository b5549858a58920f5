"""traces.ingest.logs and traces.ingest.metrics without a database: decoding logs requests (protobuf and
OTLP/JSON), rejections of records without trace context, staging (digest, redaction, drop_content), and
counting a metrics export's data points."""

from __future__ import annotations

import base64
import json
import os

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
    Summary,
    SummaryDataPoint,
)

from tests.otlp import NS, AgentTrace, attributes, protobuf
from traces.ids import span_from_valid_hex
from traces.ingest import logs, metrics
from traces.ingest.errors import DecodeError
from traces.ingest.redact import BUILTIN_RULES, RedactionPolicy

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
T0 = 1_760_000_000 * NS


def kvlist(values: dict[str, str]) -> AnyValue:
    return AnyValue(
        kvlist_value=KeyValueList(values=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items()])
    )


def record(**fields: object) -> LogRecord:
    base: dict[str, object] = {
        "trace_id": TRACE,
        "span_id": SPAN,
        "time_unix_nano": T0,
        "observed_time_unix_nano": T0 + 5,
        "severity_number": SeverityNumber.SEVERITY_NUMBER_INFO,
        "severity_text": "INFO",
        "event_name": "gen_ai.user.message",
        "body": kvlist({"content": "Where is my order?"}),
        "attributes": attributes({"gen_ai.system": "openai"}),
    }
    base.update(fields)
    return LogRecord(**base)  # type: ignore[arg-type]


def request(*records: LogRecord, scope: str = "opentelemetry.instrumentation.openai_v2") -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource={"attributes": attributes({"service.name": "bot"})},  # type: ignore[arg-type]
                scope_logs=[ScopeLogs(scope=InstrumentationScope(name=scope), log_records=list(records))],
            )
        ]
    )


def as_json(req: ExportLogsServiceRequest) -> bytes:
    """OTLP/JSON as exporters write it: hex ids, not proto3 JSON's base64."""
    data = MessageToDict(req)
    for resource in data["resourceLogs"]:
        for scope in resource["scopeLogs"]:
            for rec in scope["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in rec:
                        rec[key] = base64.b64decode(rec[key]).hex()
    return json.dumps(data).encode()


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_a_record_in_a_span_decodes_with_everything_it_carries(encoding: str) -> None:
    req = request(record())
    body = req.SerializeToString() if encoding == PROTOBUF else as_json(req)
    decoded = logs.decode_logs_request(body, encoding)
    assert decoded.rejections == []
    assert decoded.received == 1
    (got,) = decoded.records
    assert (got.trace_id, got.span_id) == (TRACE, SPAN)
    assert (got.time_unix_nano, got.observed_time_unix_nano) == (T0, T0 + 5)
    assert (got.severity_number, got.severity_text) == (9, "INFO")
    assert got.event_name == "gen_ai.user.message"
    assert got.body == {"content": "Where is my order?"}
    assert got.attributes == {"gen_ai.system": "openai"}
    assert got.scope_name == "opentelemetry.instrumentation.openai_v2"


def test_json_takes_severity_names_and_string_times() -> None:
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "traceId": TRACE.hex(),
                                "spanId": SPAN.hex(),
                                "observedTimeUnixNano": str(T0),
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "body": {"stringValue": "slow tool"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    (got,) = logs.decode_logs_request(json.dumps(body).encode(), JSON).records
    # Without a time of its own the record is placed at its observed time.
    assert (got.time_unix_nano, got.severity_number, got.body, got.event_name) == (T0, 13, "slow tool", "")


def test_the_older_event_name_attribute_names_the_event() -> None:
    # SDKs before LogRecord.event_name (the Events API of OTel Python 1.29) put it in an attribute.
    old = record(event_name="", attributes=attributes({"event.name": "gen_ai.choice", "gen_ai.system": "openai"}))
    (got,) = logs.decode_logs_request(request(old).SerializeToString(), PROTOBUF).records
    assert got.event_name == "gen_ai.choice"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"trace_id": b"", "span_id": b""}, "no trace context"),
        ({"span_id": b""}, "no trace context"),
        ({"trace_id": bytes(16)}, "no trace context"),
        ({"trace_id": b"\x01" * 8}, "traceId must be 16 bytes"),
        ({"time_unix_nano": 0, "observed_time_unix_nano": 0}, "neither timeUnixNano nor observedTimeUnixNano"),
        ({"time_unix_nano": 1 << 63}, "after 2262"),
    ],
)
def test_a_record_that_cannot_attach_to_a_step_is_rejected_alone(fields: dict[str, object], reason: str) -> None:
    req = request(record(), record(**fields), record(body=AnyValue(string_value="third")))
    decoded = logs.decode_logs_request(req.SerializeToString(), PROTOBUF)
    assert decoded.received == 3
    assert len(decoded.records) == 2
    (rejection,) = decoded.rejections
    assert rejection.index == 1
    assert rejection.reason.startswith("log record 1: ")
    assert reason in rejection.reason
    assert "1 log record rejected; first: log record 1" in logs.rejection_message([rejection.reason])


def test_a_malformed_json_record_is_rejected_and_the_rest_kept() -> None:
    good = {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "timeUnixNano": str(T0)}
    bad = {**good, "spanId": "not hex"}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [good, bad, "nonsense"]}]}]}
    decoded = logs.decode_logs_request(json.dumps(body).encode(), JSON)
    assert len(decoded.records) == 1
    assert [r.index for r in decoded.rejections] == [1, 2]
    assert "spanId is not hex" in decoded.rejections[0].reason


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"\xff\x00garbage", PROTOBUF, "not a valid OTLP ExportLogsServiceRequest"),
        (b"{not json", JSON, "not valid JSON"),
        (b"[]", JSON, "must be an object"),
        (b'{"resourceLogs": {}}', JSON, "must be an array"),
        (b'{"resourceSpans": []}', JSON, "OTLP traces export"),
        (b'{"resourceMetrics": []}', JSON, "OTLP metrics export"),
    ],
)
def test_a_body_that_is_not_a_logs_export_fails_whole(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        logs.decode_logs_request(body, content_type)


def test_a_trace_export_posted_here_is_told_where_to_go() -> None:
    with pytest.raises(DecodeError, match="OTLP traces export, and /v1/logs takes logs only: send it to /v1/traces"):
        logs.decode_logs_request(protobuf(AgentTrace().built()), PROTOBUF)


def _decoded(*records: LogRecord) -> list[logs.LogRecord]:
    return logs.decode_logs_request(request(*records).SerializeToString(), PROTOBUF).records


def test_staging_keys_a_record_by_what_was_sent_so_a_retry_matches() -> None:
    first = _decoded(record())
    again = _decoded(record())
    other = _decoded(record(body=kvlist({"content": "Another question"})))
    assert logs.digest(first[0]) == logs.digest(again[0])
    assert logs.digest(first[0]) != logs.digest(other[0])
    # The same record twice in one request is staged once.
    rows = logs.stage_logs(first + again + other, project_id=7, policy=RedactionPolicy())
    assert len(rows) == 2
    row = rows[0]
    assert list(row) == list(logs.LOG_COLUMNS)
    assert row["project_id"] == 7
    assert row["trace_id"] == TRACE.hex()
    assert row["span_id"] == span_from_valid_hex(SPAN.hex())
    assert row["time"] == "2025-10-09 08:53:20.000000+00"


def test_staging_redacts_body_and_attributes_and_the_digest_does_not_depend_on_it() -> None:
    secret = record(
        body=kvlist({"content": "mail me at bob@example.com"}),
        attributes=attributes({"user.email": "bob@example.com"}),
    )
    (decoded,) = _decoded(secret)
    (plain,) = logs.stage_logs([decoded], project_id=1, policy=RedactionPolicy())
    (redacted,) = logs.stage_logs([decoded], project_id=1, policy=RedactionPolicy(builtin=BUILTIN_RULES))
    assert "bob@example.com" in plain["body"]
    assert orjson.loads(redacted["body"]) == {"content": "mail me at [REDACTED:email]"}
    assert orjson.loads(redacted["attributes"]) == {"user.email": "[REDACTED:email]"}
    assert redacted["digest"] == plain["digest"]


def test_drop_content_keeps_the_event_but_not_its_body_or_content_attributes() -> None:
    (decoded,) = _decoded(record(attributes=attributes({"gen_ai.prompt": "secret", "gen_ai.system": "openai"})))
    (row,) = logs.stage_logs([decoded], project_id=1, policy=RedactionPolicy(drop_content=True))
    assert row["body"] is None
    assert orjson.loads(row["attributes"]) == {"gen_ai.system": "openai"}
    assert row["event_name"] == "gen_ai.user.message"


def test_nul_is_dropped_from_texts_postgres_cannot_hold() -> None:
    (decoded,) = _decoded(record(event_name="a\x00b", severity_text="IN\x00FO", body=AnyValue(string_value="x\x00y")))
    (row,) = logs.stage_logs([decoded], project_id=1, policy=RedactionPolicy())
    assert (row["event_name"], row["severity_text"], orjson.loads(row["body"])) == ("ab", "INFO", "xy")


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_the_logs_answer_is_in_the_requests_encoding(encoding: str) -> None:
    assert logs.encode_logs_response(0, "", encoding) == (b"" if encoding == PROTOBUF else b"{}")
    body = logs.encode_logs_response(2, "2 log records rejected", encoding)
    if encoding == PROTOBUF:
        partial = ExportLogsServiceResponse.FromString(body).partial_success
        assert (partial.rejected_log_records, partial.error_message) == (2, "2 log records rejected")
    else:
        assert json.loads(body) == {
            "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "2 log records rejected"}
        }


def metrics_request() -> ExportMetricsServiceRequest:
    """One metric of every type: 2 gauge points, 3 sum, 1 histogram, 1 exponential histogram, 2 summary."""
    number = [NumberDataPoint(as_double=1.0, time_unix_nano=T0)]
    metrics = [
        Metric(name="g", gauge=Gauge(data_points=number * 2)),
        Metric(name="s", sum=Sum(data_points=number * 3)),
        Metric(name="h", histogram=Histogram(data_points=[HistogramDataPoint(count=1)])),
        Metric(name="e", exponential_histogram=ExponentialHistogram(data_points=[ExponentialHistogramDataPoint()])),
        Metric(name="q", summary=Summary(data_points=[SummaryDataPoint(count=1)] * 2)),
    ]
    return ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=metrics)])]
    )


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_data_points_of_every_metric_type_are_counted(encoding: str) -> None:
    req = metrics_request()
    body = req.SerializeToString() if encoding == PROTOBUF else json.dumps(MessageToDict(req)).encode()
    assert metrics.count_data_points(body, encoding) == 9
    answer = metrics.encode_metrics_response(9, encoding)
    if encoding == PROTOBUF:
        partial = ExportMetricsServiceResponse.FromString(answer).partial_success
        assert (partial.rejected_data_points, partial.error_message) == (9, metrics.METRICS_MESSAGE)
    else:
        assert json.loads(answer)["partialSuccess"] == {
            "rejectedDataPoints": "9",
            "errorMessage": metrics.METRICS_MESSAGE,
        }
    assert "OTEL_METRICS_EXPORTER=none" in metrics.METRICS_MESSAGE


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"\xff\x00garbage", PROTOBUF), (b'{"resourceMetrics": [{"scopeMetrics": "x"}]}', JSON), (b"nope", JSON)],
)
def test_a_body_that_is_not_a_metrics_export_is_a_decode_error(body: bytes, content_type: str) -> None:
    with pytest.raises(DecodeError):
        metrics.count_data_points(body, content_type)


def test_random_ids_round_trip() -> None:
    # Any 8-byte span id (sign bit set or not) stages to the signed integer the step table uses.
    for _ in range(20):
        span = os.urandom(8)
        (decoded,) = _decoded(record(span_id=span))
        (row,) = logs.stage_logs([decoded], project_id=1, policy=RedactionPolicy())
        assert row["span_id"] == span_from_valid_hex(span.hex())
