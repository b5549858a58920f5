"""POST /v1/logs and /v1/metrics in-process, and the OTLP 404 of any other path under /v1/: every error
answer, partial success, retries, a lock that is not granted; what was stored is read from the database."""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.fixtures.otlp import loader
from tests.traces.conftest import JSON, PROTOBUF, IngestSetup, api_get
from tests.traces.ingest.test_logs import SPAN, TRACE, as_json, kvlist, metrics_request, record, request
from traces.ids import span_from_valid_hex
from traces.ingest.logs import decode_logs_request
from traces.ingest.metrics import METRICS_MESSAGE
from traces.models import LogRecord

# Captured exports keep the times they were recorded at (window_for_captures).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("window_for_captures")]

LOGS, METRICS = "/v1/logs", "/v1/metrics"
INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, UNIMPLEMENTED, UNAVAILABLE, UNAUTHENTICATED = 3, 5, 8, 12, 14, 16


def post(
    client: Client, url: str, body: bytes, *, key: str | None, content_type: str = PROTOBUF, **headers: str
) -> Any:
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    return client.post(url, data=body, content_type=content_type, headers=headers, CONTENT_TYPE=content_type)


def rpc_status(response: Any) -> tuple[int, str]:
    if response["Content-Type"] == PROTOBUF:
        status = status_pb2.Status.FromString(response.content)
        return status.code, status.message
    assert response["Content-Type"] == JSON, response["Content-Type"]
    data = json.loads(response.content)
    return data["code"], data["message"]


def logs_partial(response: Any) -> tuple[int, str]:
    assert response.status_code == 200, (response.status_code, response.content[:500])
    if response["Content-Type"] == PROTOBUF:
        partial = ExportLogsServiceResponse.FromString(response.content).partial_success
        return partial.rejected_log_records, partial.error_message
    data = json.loads(response.content).get("partialSuccess", {})
    return int(data.get("rejectedLogRecords", 0)), data.get("errorMessage", "")


def stored(setup: IngestSetup) -> int:
    return LogRecord.objects.filter(project=setup.project).count()


def encoded(content_type: str, *records: Any) -> bytes:
    req = request(*records)
    return req.SerializeToString() if content_type == PROTOBUF else as_json(req)


def test_the_paths_are_the_otlp_ones() -> None:
    assert (reverse("otlp_logs"), reverse("otlp_metrics")) == (LOGS, METRICS)


# --- /v1/logs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_records_in_a_span_are_stored_and_answered_in_the_requests_encoding(
    client: Client, ingest: IngestSetup, content_type: str
) -> None:
    second = record(event_name="gen_ai.choice", time_unix_nano=record().time_unix_nano + 1000)
    response = post(client, LOGS, encoded(content_type, record(), second), key=ingest.key, content_type=content_type)
    assert response["Content-Type"] == content_type
    assert logs_partial(response) == (0, "")
    assert response.content == (b"" if content_type == PROTOBUF else b"{}")
    rows = list(LogRecord.objects.filter(project=ingest.project).order_by("time"))
    assert [r.event_name for r in rows] == ["gen_ai.user.message", "gen_ai.choice"]
    first = rows[0]
    assert (first.trace_id.hex, first.span_id) == (TRACE.hex(), span_from_valid_hex(SPAN.hex()))
    assert first.body == {"content": "Where is my order?"}
    assert first.attributes == {"gen_ai.system": "openai"}
    assert (first.severity_number, first.severity_text) == (9, "INFO")
    assert first.scope_name == "opentelemetry.instrumentation.openai_v2"
    assert int(first.time.timestamp() * 1_000_000) == record().time_unix_nano // 1000


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_read(client: Client, ingest: IngestSetup, encoding: str) -> None:
    body = encoded(PROTOBUF, record())
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    response = post(client, LOGS, packed, key=ingest.key, **{"Content-Encoding": encoding})
    assert logs_partial(response) == (0, "")
    assert stored(ingest) == 1


def test_an_exporters_retry_stores_nothing_twice(client: Client, ingest: IngestSetup) -> None:
    body = encoded(PROTOBUF, record(), record(body=AnyValue(string_value="other")))
    for _ in range(3):
        assert logs_partial(post(client, LOGS, body, key=ingest.key)) == (0, "")
    assert stored(ingest) == 2


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_records_without_trace_context_are_rejected_one_by_one_and_the_rest_kept(
    client: Client, ingest: IngestSetup, content_type: str
) -> None:
    body = encoded(content_type, record(trace_id=b"", span_id=b""), record(), record(span_id=b""))
    rejected, message = logs_partial(post(client, LOGS, body, key=ingest.key, content_type=content_type))
    assert rejected == 2
    assert message.startswith("2 log records rejected; first: log record 0: has no trace context")
    assert "emit it inside a span" in message
    assert stored(ingest) == 1


def test_the_same_records_in_another_project_are_its_own(client: Client, ingest: IngestSetup) -> None:
    from tests.factories import make_project
    from tests.traces.conftest import make_engineer, setup_for

    other_project = make_project()
    other = setup_for(other_project, make_engineer(other_project))
    body = encoded(PROTOBUF, record())
    post(client, LOGS, body, key=ingest.key)
    post(client, LOGS, body, key=other.key)
    assert (stored(ingest), stored(other)) == (1, 1)


@pytest.mark.parametrize("url", [LOGS, METRICS])
@pytest.mark.parametrize("method", ["get", "put"])
def test_only_post_is_allowed(client: Client, ingest: IngestSetup, url: str, method: str) -> None:
    response = getattr(client, method)(url, headers={"Authorization": f"Bearer {ingest.key}"})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert rpc_status(response) == (UNIMPLEMENTED, f"only POST is supported on {url}")


@pytest.mark.parametrize("url", [LOGS, METRICS])
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_without_a_valid_key_the_answer_is_401_in_the_requests_encoding(
    client: Client, ingest: IngestSetup, url: str, content_type: str
) -> None:
    body = encoded(content_type, record()) if url == LOGS else b""
    missing = post(client, url, body, key=None, content_type=content_type)
    assert missing.status_code == 401
    assert missing["Content-Type"] == content_type
    assert rpc_status(missing) == (UNAUTHENTICATED, "missing ingest key: send 'Authorization: Bearer <key>'")
    wrong = post(client, url, body, key="aok_wrong", content_type=content_type)
    assert wrong.status_code == 401
    assert rpc_status(wrong) == (UNAUTHENTICATED, "invalid or revoked ingest key")
    assert stored(ingest) == 0


@pytest.mark.parametrize("url", [LOGS, METRICS])
def test_an_unsupported_content_type_is_415(client: Client, ingest: IngestSetup, url: str) -> None:
    response = post(client, url, b"x", key=ingest.key, content_type="text/plain")
    assert response.status_code == 415
    code, message = rpc_status(response)
    assert code == INVALID_ARGUMENT
    assert "application/x-protobuf" in message


@pytest.mark.parametrize(
    ("body", "content_type", "encoding"),
    [(b"\xff\x00garbage", PROTOBUF, None), (b"{nope", JSON, None), (b"not gzip", PROTOBUF, "gzip")],
)
def test_an_undecodable_body_is_400_and_nothing_is_stored(
    client: Client, ingest: IngestSetup, body: bytes, content_type: str, encoding: str | None
) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    response = post(client, LOGS, body, key=ingest.key, content_type=content_type, **headers)
    assert response.status_code == 400
    assert rpc_status(response)[0] == INVALID_ARGUMENT
    assert stored(ingest) == 0


@override_settings(INGEST_MAX_BODY_BYTES=2048)
def test_a_body_over_the_limit_after_decompression_is_413(client: Client, ingest: IngestSetup) -> None:
    big = encoded(PROTOBUF, record(body=kvlist({"content": "x" * 10_000})))
    response = post(client, LOGS, gzip.compress(big), key=ingest.key, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    code, message = rpc_status(response)
    assert code == RESOURCE_EXHAUSTED
    assert "after gzip decompression" in message
    assert stored(ingest) == 0


@override_settings(INGEST_LOCK_TIMEOUT_MS=200, INGEST_RETRY_AFTER_SECONDS=7)
def test_a_lock_not_granted_in_time_is_a_503_and_the_retry_stores_once(client: Client, ingest: IngestSetup) -> None:
    body = encoded(PROTOBUF, record())
    holder = psycopg.connect(**connection.get_connection_params())
    try:
        holder.execute("LOCK TABLE traces_logrecord IN ACCESS EXCLUSIVE MODE")
        refused = post(client, LOGS, body, key=ingest.key)
        assert refused.status_code == 503
        assert refused["Retry-After"] == "7"
        code, message = rpc_status(refused)
        assert code == UNAVAILABLE
        assert message.endswith("; retry later")
    finally:
        holder.rollback()
        holder.close()
    assert stored(ingest) == 0
    assert logs_partial(post(client, LOGS, body, key=ingest.key)) == (0, "")
    assert stored(ingest) == 1


def test_a_logs_export_posted_to_v1_traces_is_still_rejected_there_record_by_record(
    client: Client, ingest: IngestSetup
) -> None:
    response = post(client, "/v1/traces", encoded(PROTOBUF, record(), record()), key=ingest.key)
    assert response.status_code == 200
    message = ExportTraceServiceResponse.FromString(response.content).partial_success.error_message
    assert message.startswith("2 spans rejected; first: log record 0: this is an OTLP logs export")
    assert "send logs to /v1/logs" in message
    assert stored(ingest) == 0


# --- /v1/metrics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_metrics_export_is_refused_point_by_point_saying_how_to_turn_it_off(
    client: Client, ingest: IngestSetup, content_type: str
) -> None:
    from google.protobuf.json_format import MessageToDict

    req = metrics_request()
    body = req.SerializeToString() if content_type == PROTOBUF else json.dumps(MessageToDict(req)).encode()
    response = post(client, METRICS, body, key=ingest.key, content_type=content_type)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    if content_type == PROTOBUF:
        partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
        assert (partial.rejected_data_points, partial.error_message) == (9, METRICS_MESSAGE)
    else:
        partial_json = json.loads(response.content)["partialSuccess"]
        assert partial_json == {"rejectedDataPoints": "9", "errorMessage": METRICS_MESSAGE}


def test_a_body_that_is_not_a_metrics_export_is_400(client: Client, ingest: IngestSetup) -> None:
    response = post(client, METRICS, b"\xff\x00garbage", key=ingest.key)
    assert response.status_code == 400
    assert rpc_status(response)[0] == INVALID_ARGUMENT


# --- other paths under /v1/ ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/profiles", "/v1/", "/v1/traces/", "/v1/logs/extra"])
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_any_other_path_under_v1_is_an_otlp_404_not_html(client: Client, path: str, content_type: str) -> None:
    response = client.post(path, data=b"", content_type=content_type, CONTENT_TYPE=content_type)
    assert response.status_code == 404
    assert response["Content-Type"] == content_type
    code, message = rpc_status(response)
    assert code == NOT_FOUND
    assert path in message
    assert "/v1/traces, /v1/logs and /v1/metrics" in message


# --- what real exporters captured (tests/fixtures/otlp/<convention>/<case>.logs.pb, .metrics.pb) -----

FIXTURES = loader.ROOT
LOG_CASES = sorted(FIXTURES.glob("*/*.logs.pb"))
# Libraries whose log records are the application's own lines, not GenAI events: they give no messages.
WITHOUT_GENAI_LOGS = {"mastra"}
METRIC_CASES = sorted(FIXTURES.glob("*/*.metrics.pb"))


@pytest.mark.parametrize("path", LOG_CASES, ids=[f"{p.parent.name}/{p.name}" for p in LOG_CASES])
def test_every_captured_log_export_attaches_to_its_steps_and_gives_llm_steps_their_messages(
    client: Client, ingest: IngestSetup, path: Any
) -> None:
    convention, case = path.parent.name, path.name.split(".")[0]
    for request_path in loader.request_paths(convention, case):
        content_type = JSON if request_path.suffix == ".json" else PROTOBUF
        assert (
            post(client, "/v1/traces", request_path.read_bytes(), key=ingest.key, content_type=content_type).status_code
            == 200
        )
    decoded = decode_logs_request(path.read_bytes(), PROTOBUF)
    rejected, message = logs_partial(post(client, LOGS, path.read_bytes(), key=ingest.key))
    # Records outside any span (Mastra logs one about its own start) are refused one by one, saying why.
    assert rejected == len(decoded.rejections)
    assert ("no trace context" in message) if rejected else message == ""

    records = decoded.records
    assert stored(ingest) == len(records) > 0
    per_span = Counter(r.span_id.hex() for r in records)
    steps = {s.span_id: s for s in loader.load_steps(convention, case)}
    llm_with_records = 0
    for span_hex, count in per_span.items():
        step = steps[span_hex]
        data = api_get(client, ingest.step_url(step.trace_id, span_hex), ingest)
        assert len(data["logs"]) == count
        if step.kind == "LLM":
            llm_with_records += 1
            assert data["input"], (span_hex, step.name)
            assert all("role" in message for message in data["input"])
            if step.input is None:
                assert "input" in data["derived_from_logs"]
    if path.parent.name not in WITHOUT_GENAI_LOGS:
        assert llm_with_records, "no LLM step of the case had log records: the case checks no messages"


def _points(body: bytes) -> int:
    request = ExportMetricsServiceRequest.FromString(body)
    total = 0
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                data = getattr(metric, metric.WhichOneof("data"))
                total += len(data.data_points)
    return total


@pytest.mark.parametrize("path", METRIC_CASES, ids=[f"{p.parent.name}/{p.name}" for p in METRIC_CASES])
def test_every_captured_metrics_export_is_answered_with_partial_success(
    client: Client, ingest: IngestSetup, path: Any
) -> None:
    response = post(client, METRICS, path.read_bytes(), key=ingest.key)
    assert response.status_code == 200
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_data_points == _points(path.read_bytes()) > 0
    assert partial.error_message == METRICS_MESSAGE
