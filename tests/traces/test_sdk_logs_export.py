"""The real OpenTelemetry Python SDK's log and metric exporters against a live agentops server, and the
captured opentelemetry-instrumentation-openai-v2 2.0b0 run whose prompts and completions arrive only as
log events (tests/fixtures/otlp/otel_genai/chat_v1_28_logs*.pb), read back through the REST API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.fixtures.otlp import loader
from tests.traces.conftest import PROTOBUF, IngestSetup
from traces.ingest.metrics import METRICS_MESSAGE
from traces.models import LogRecord

# Captured exports keep the times they were recorded at (window_for_captures).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("window_for_captures")]

FIXTURES = Path(loader.ROOT) / "otel_genai"


def get(base_url: str, setup: IngestSetup, url: str) -> Any:
    response = requests.get(base_url + url, headers=setup.api_headers(), timeout=30)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response.json()


class _Results(SimpleLogRecordProcessor):
    """A SimpleLogRecordProcessor that keeps what each export returned (the SDK only logs a failure)."""

    def __init__(self, exporter: OTLPLogExporter) -> None:
        super().__init__(exporter)
        self.results: list[LogRecordExportResult] = []
        export = exporter.export

        def recording(batch: Any) -> LogRecordExportResult:
            result = export(batch)
            self.results.append(result)
            return result

        exporter.export = recording  # type: ignore[method-assign]


def test_sdk_log_records_inside_a_span_attach_to_its_step(live_server: Any, ingest: IngestSetup) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    headers = {"Authorization": f"Bearer {ingest.key}"}
    resource = Resource.create({"service.name": "logging-agent"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{live_server.url}/v1/traces", headers=headers))
    )
    logger_provider = LoggerProvider(resource=resource)
    processor = _Results(OTLPLogExporter(endpoint=f"{live_server.url}/v1/logs", headers=headers))
    logger_provider.add_log_record_processor(processor)
    otel_logger = logger_provider.get_logger("tests.agent")
    # An agent's ordinary Python logging, bridged by the SDK's handler: records take the current span.
    python_logger = logging.getLogger("tests.sdk_logs.agent")
    python_logger.propagate = False
    python_logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    python_logger.setLevel(logging.INFO)
    tracer = tracer_provider.get_tracer("tests.agent")
    try:
        python_logger.warning("before any span")  # no trace context: rejected, saying why
        with tracer.start_as_current_span("lookup_order") as span:
            python_logger.info("looking up order %s", "A-100")
            otel_logger.emit(
                event_name="gen_ai.tool.message",
                body={"content": "shipped", "id": "call_1"},
                attributes={"gen_ai.system": "openai"},
            )
        assert logger_provider.force_flush(30_000)
    finally:
        logger_provider.shutdown()
        tracer_provider.shutdown()
    # The exporter saw no error: the record without trace context is refused through partial_success.
    assert processor.results == [LogRecordExportResult.SUCCESS] * 3
    assert LogRecord.objects.filter(project=ingest.project).count() == 2

    context = span.get_span_context()
    trace_hex, span_hex = f"{context.trace_id:032x}", f"{context.span_id:016x}"
    step = get(live_server.url, ingest, ingest.step_url(trace_hex, span_hex))
    line, event = step["logs"]
    assert (line["body"], line["severity_text"], line["event_name"]) == ("looking up order A-100", "INFO", "")
    assert line["attributes"]["code.function.name"] == "test_sdk_log_records_inside_a_span_attach_to_its_step"
    assert line["scope"] == "tests.sdk_logs.agent"
    assert (event["event_name"], event["body"]) == ("gen_ai.tool.message", {"content": "shipped", "id": "call_1"})
    assert line["time_ns"] <= event["time_ns"]


def test_the_sdk_metric_exporter_is_answered_with_partial_success(live_server: Any, ingest: IngestSetup) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    meter = meters.get_meter("tests.agent")
    meter.create_counter("gen_ai.client.calls").add(3, {"model": "gpt-4o"})
    meter.create_counter("gen_ai.client.calls.other").add(1)
    meter.create_histogram("gen_ai.client.operation.duration").record(0.4)
    data = reader.get_metrics_data()
    meters.shutdown()
    assert data is not None
    headers = {"Authorization": f"Bearer {ingest.key}"}

    exporter = OTLPMetricExporter(endpoint=f"{live_server.url}/v1/metrics", headers=headers)
    assert exporter.export(data) == MetricExportResult.SUCCESS
    exporter.shutdown()

    # What the exporter was told (the SDK does not log partial_success): the same body, posted again.
    body = encode_metrics(data).SerializeToString()
    response = requests.post(
        f"{live_server.url}/v1/metrics", data=body, headers={**headers, "Content-Type": PROTOBUF}, timeout=30
    )
    assert response.status_code == 200
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    assert (partial.rejected_data_points, partial.error_message) == (3, METRICS_MESSAGE)
    no_key = requests.post(f"{live_server.url}/v1/metrics", data=body, headers={"Content-Type": PROTOBUF}, timeout=30)
    assert no_key.status_code == 401


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"type": "text", "content": text}]}


SYSTEM = {"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant. Use the tools."}]}
QUESTION = _user("What is the weather in Paris?")
CALL = {
    "role": "assistant",
    "parts": [{"type": "tool_call", "id": "call_weather_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
}
RESULT = {
    "role": "tool",
    "parts": [
        # The tool message's content, JSON text as sent, is parsed as span events' is.
        {
            "type": "tool_call_response",
            "id": "call_weather_1",
            "response": {"city": "Paris", "sky": "sunny", "celsius": 21},
        }
    ],
}
ANSWER = "It is sunny in Paris, 21 degrees."


def test_the_captured_v1_28_run_shows_the_messages_its_log_events_carry(live_server: Any, ingest: IngestSetup) -> None:
    headers = {"Authorization": f"Bearer {ingest.key}", "Content-Type": PROTOBUF}
    # The log events first: they may reach the server before their spans, and attach all the same.
    for path in ("chat_v1_28_logs.logs.pb", "chat_v1_28_logs.pb"):
        signal = "logs" if ".logs." in path else "traces"
        response = requests.post(
            f"{live_server.url}/v1/{signal}", data=(FIXTURES / path).read_bytes(), headers=headers, timeout=30
        )
        assert (response.status_code, response.content) == (200, b""), (path, response.content[:300])

    chats = [s for s in loader.load_steps("otel_genai", "chat_v1_28_logs") if s.kind == "LLM"]
    assert len(chats) == 3
    assert all(s.input is None and s.output is None for s in chats)  # nothing on the spans themselves
    first, second, failed = (get(live_server.url, ingest, ingest.step_url(s.trace_id, s.span_id)) for s in chats)

    assert first["input"] == [SYSTEM, QUESTION]
    assert first["output"] == [{**CALL, "finish_reason": "tool_calls"}]
    assert second["input"] == [SYSTEM, QUESTION, CALL, RESULT]
    assert second["output"] == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}
    ]
    assert failed["input"][-2:] == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]},
        _user("FAIL: now summarize the whole week."),
    ]
    assert failed["output"] is None  # the call failed: no choice was emitted
    assert [s["derived_from_logs"] for s in (first, second, failed)] == [["input", "output"]] * 2 + [["input"]]
    assert [len(s["logs"]) for s in (first, second, failed)] == [3, 5, 6]


def test_the_captured_event_only_run_shows_the_messages_of_its_operation_details_events(
    live_server: Any, ingest: IngestSetup
) -> None:
    """opentelemetry-instrumentation-openai-v2 2.4b0 with content capture EVENT_ONLY: no messages on the
    spans; each call's gen_ai.client.inference.operation.details log event holds them as attributes."""
    headers = {"Authorization": f"Bearer {ingest.key}", "Content-Type": PROTOBUF}
    for path in ("agent_run_events.pb", "agent_run_events.logs.pb"):
        signal = "logs" if ".logs." in path else "traces"
        response = requests.post(
            f"{live_server.url}/v1/{signal}", data=(FIXTURES / path).read_bytes(), headers=headers, timeout=30
        )
        assert (response.status_code, response.content) == (200, b""), (path, response.content[:300])

    chats = [s for s in loader.load_steps("otel_genai", "agent_run_events") if s.kind == "LLM"]
    assert len(chats) == 3
    assert all(s.input is None and s.output is None for s in chats)
    first, second, failed = (get(live_server.url, ingest, ingest.step_url(s.trace_id, s.span_id)) for s in chats)
    assert first["input"] == [SYSTEM, QUESTION]
    assert first["output"] == [{**CALL, "finish_reason": "tool_calls"}]
    assert second["input"][2:] == [
        CALL,
        # As the event sent it: the tool's JSON text, not parsed (OTel shape messages are kept as sent).
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "call_weather_1",
                    "response": '{"city": "Paris", "sky": "sunny", "celsius": 21}',
                }
            ],
        },
    ]
    assert second["output"] == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}
    ]
    assert failed["input"][-1] == _user("FAIL: now summarize the whole week.")
    assert failed["output"] is None
    assert [s["derived_from_logs"] for s in (first, second, failed)] == [["input", "output"]] * 2 + [["input"]]
    assert [[log["event_name"] for log in s["logs"]] for s in (first, second, failed)] == [
        ["gen_ai.client.inference.operation.details"]
    ] * 3
