"""OTLP/gRPC ingest: a real `agentops grpc` process on the test database, fed by the real OpenTelemetry
Python gRPC exporter configured from OTEL_EXPORTER_OTLP_* as a user configures it (with and without
gzip), and by raw grpc calls for the refusals. The run read back through the REST API must be the one
OTLP/HTTP stores, field by field. (The database outage: tests/traces/test_outage.py.)
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from django.test import Client
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.agentops.conftest import UpProcess
from tests.otlp import AgentTrace, SpanSpec, protobuf
from tests.traces.conftest import IngestSetup, api_get, emit_agent_run
from tests.traces.ingest.hostile import BAD_SPAN_HEX, GOOD_SPAN_HEX, TRACE_HEX, pb_batch, pb_span, pb_with_bad_utf8_name
from tests.traces.servers import serve
from tests.traces.test_sdk_export import assert_agent_run

pytestmark = pytest.mark.slow

LIMIT = 256 * 1024  # INGEST_MAX_BODY_BYTES of the server under test
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture(scope="module")
def grpc_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    home = tmp_path_factory.mktemp("grpc") / "home"
    with serve("grpc", home, "--threads", "2", INGEST_MAX_BODY_BYTES=str(LIMIT), LOG_LEVEL="INFO") as process:
        assert process.wait_for_output("agentops grpc: OTLP/gRPC on"), process.output
        yield process


@pytest.fixture
def ingest_live(transactional_db: None, ingest: IngestSetup) -> IngestSetup:
    """The `ingest` project, committed, so that the server process sees its key."""
    return ingest


def call(server: UpProcess, body: bytes, key: str | None, compression: grpc.Compression | None = None) -> bytes:
    """One raw TraceService/Export call; the serialized response (grpc.RpcError when refused)."""
    metadata = [("authorization", f"Bearer {key}")] if key else []
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        export = channel.unary_unary(EXPORT)
        response: bytes = export(body, metadata=metadata, timeout=30, compression=compression)
        return response


def refused(server: UpProcess, body: bytes, key: str | None, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(server, body, key, **kwargs)
    return caught.value


# The gRPC exporter refuses OTEL_EXPORTER_OTLP_COMPRESSION=none (1.45.2): no compression is the unset variable.
@pytest.mark.parametrize("compression", ["gzip", None], ids=["gzip", "unset"])
def test_the_grpc_exporter_run_reads_back_field_by_field(
    grpc_server: UpProcess, ingest_live: IngestSetup, compression: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{grpc_server.port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{ingest_live.key}")
    if compression:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
    else:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_COMPRESSION", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    for name in [n for n in os.environ if n.startswith("OTEL_EXPORTER_OTLP_TRACES_")]:
        monkeypatch.delenv(name)
    exporter = OTLPSpanExporter()
    assert exporter._compression == (grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression)

    ids = emit_agent_run(exporter)  # flushes: returns once the exporter's call has been answered
    exporter.shutdown()

    run = api_get(Client(), ingest_live.run_url(ids.trace_id), ingest_live)
    assert_agent_run(run, ids)
    assert '"protocol": "grpc"' in grpc_server.output
    assert '"event": "ingest.stored"' in grpc_server.output


def test_ok_means_committed_and_a_retry_stores_nothing_twice(grpc_server: UpProcess, ingest_live: IngestSetup) -> None:
    trace = AgentTrace()
    body = protobuf(trace.built())

    assert call(grpc_server, body, ingest_live.key) == b""  # empty response: no partial success
    assert call(grpc_server, body, ingest_live.key, compression=grpc.Compression.Gzip) == b""

    run = api_get(Client(), ingest_live.run_url(trace.trace_hex), ingest_live)
    assert run["step_count"] == len(trace.spans) == 4
    assert run["llm_calls"] == 2


def test_rejected_spans_are_a_partial_success(grpc_server: UpProcess, ingest_live: IngestSetup) -> None:
    trace = AgentTrace()
    spans = trace.built()
    nameless = SpanSpec("", {}, parent=trace.spans[0].span_id, start_ns=trace.start_ns).build(trace.trace_id)

    response = ExportTraceServiceResponse.FromString(call(grpc_server, protobuf([*spans, nameless]), ingest_live.key))

    assert response.partial_success.rejected_spans == 1
    assert response.partial_success.error_message.startswith("1 span rejected; first: span 4:")
    assert api_get(Client(), ingest_live.run_url(trace.trace_hex), ingest_live)["step_count"] == 4


def test_a_span_far_off_in_time_or_not_utf8_is_rejected_alone(grpc_server: UpProcess, ingest_live: IngestSetup) -> None:
    # Over gRPC as over HTTP (traces.receive): the window and the piece-by-piece parse.
    far_off = pb_batch(pb_span(GOOD_SPAN_HEX), pb_span(BAD_SPAN_HEX, start=1))
    response = ExportTraceServiceResponse.FromString(call(grpc_server, far_off, ingest_live.key))
    assert response.partial_success.rejected_spans == 1
    assert "outside the accepted window" in response.partial_success.error_message
    response = ExportTraceServiceResponse.FromString(call(grpc_server, pb_with_bad_utf8_name(), ingest_live.key))
    assert response.partial_success.rejected_spans == 1
    assert "not a valid protobuf Span" in response.partial_success.error_message
    # The valid span of each batch (two starts: two steps), and neither hostile one.
    assert api_get(Client(), ingest_live.run_url(TRACE_HEX), ingest_live)["step_count"] == 2


@pytest.mark.parametrize("key", [None, "aok_wrong"], ids=["missing", "wrong"])
def test_a_missing_or_wrong_key_is_unauthenticated(
    grpc_server: UpProcess, ingest_live: IngestSetup, key: str | None
) -> None:
    error = refused(grpc_server, protobuf(AgentTrace().built()), key)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "ingest key" in (error.details() or "")


def test_the_x_api_key_metadata_authenticates_too(grpc_server: UpProcess, ingest_live: IngestSetup) -> None:
    trace = AgentTrace()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        response = channel.unary_unary(EXPORT)(
            protobuf(trace.built()), metadata=[("x-api-key", ingest_live.key)], timeout=30
        )
    assert response == b""
    assert api_get(Client(), ingest_live.run_url(trace.trace_hex), ingest_live)["step_count"] == 4


def test_garbage_is_invalid_argument(grpc_server: UpProcess, ingest_live: IngestSetup) -> None:
    error = refused(grpc_server, b"\xff\xff\xff not protobuf", ingest_live.key)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid OTLP ExportTraceServiceRequest" in (error.details() or "")
    assert '"event": "ingest.rejected"' in grpc_server.output


def test_a_message_over_the_limit_is_resource_exhausted(grpc_server: UpProcess, ingest_live: IngestSetup) -> None:
    # A valid request padded past the limit (a long attribute), and a small gzip message that inflates
    # past it: the limit holds after decompression, as over HTTP.
    big = AgentTrace()
    big.spans[0].attrs["padding"] = "x" * LIMIT
    body = protobuf(big.built())
    assert len(body) > LIMIT and len(gzip.compress(body)) < LIMIT

    for compression in (None, grpc.Compression.Gzip):
        error = refused(grpc_server, body, ingest_live.key, compression=compression)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, compression
        # grpc's own words ("Received message larger than max (N vs. M)", "Decompressed message ...").
        assert "larger than max" in (error.details() or ""), error.details()
    # Nothing of it stored.
    response = Client().get(ingest_live.run_url(big.trace_hex), headers=ingest_live.api_headers())
    assert response.status_code == 404
    # A message of exactly the limit is taken.
    fits = AgentTrace()
    fits.spans[0].attrs["padding"] = "x" * (LIMIT - len(body) + LIMIT)
    for _ in range(5):  # the length prefixes shrink with the padding: converge on the exact size
        over = len(protobuf(fits.built())) - LIMIT
        fits.spans[0].attrs["padding"] = "x" * (len(fits.spans[0].attrs["padding"]) - over)
    assert len(protobuf(fits.built())) == LIMIT
    assert call(grpc_server, protobuf(fits.built()), ingest_live.key) == b""


@pytest.mark.parametrize(
    ("service", "says"),
    [
        ("opentelemetry.proto.collector.logs.v1.LogsService", "OTEL_LOGS_EXPORTER=none"),
        ("opentelemetry.proto.collector.metrics.v1.MetricsService", "OTEL_METRICS_EXPORTER=none"),
    ],
    ids=["logs", "metrics"],
)
def test_logs_and_metrics_exports_are_unimplemented_saying_what_to_do(
    grpc_server: UpProcess, service: str, says: str
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        export = channel.unary_unary(f"/{service}/Export")
        with pytest.raises(grpc.RpcError) as caught:
            export(b"", metadata=[("authorization", "Bearer aok_any")], timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert says in (caught.value.details() or "")
