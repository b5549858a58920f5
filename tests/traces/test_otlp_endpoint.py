"""POST /v1/traces in-process: every error answer, partial success, empty and full success, and a
retried batch that must change nothing. What was stored is read back from the database and the REST API.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import sys
import zlib
from types import FrameType
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from google.protobuf.json_format import MessageToDict
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics

from agentops.tenancy import services
from tests.factories import make_project
from tests.otlp import NS, AgentTrace, SpanSpec, otlp_json, protobuf
from tests.traces.conftest import JSON, PROTOBUF, IngestSetup, api_get, make_engineer, setup_for
from traces import services as traces_services
from traces.ingest import decode
from traces.models import Run, Step

pytestmark = pytest.mark.django_db

URL = "/v1/traces"

# google.rpc.Code values the endpoint must use.
INVALID_ARGUMENT = 3
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
UNAUTHENTICATED = 16


def post(client: Client, body: bytes, *, key: str | None, content_type: str = PROTOBUF, **headers: str) -> Any:
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    # CONTENT_TYPE as well: the test client drops the content_type of an empty body; exporters do not.
    return client.post(URL, data=body, content_type=content_type, headers=headers, CONTENT_TYPE=content_type)


def rpc_status(response: Any) -> tuple[int, str]:
    """The google.rpc.Status of an error answer, decoded by the encoding the answer declares."""
    if response["Content-Type"] == PROTOBUF:
        status = status_pb2.Status.FromString(response.content)
        return status.code, status.message
    assert response["Content-Type"] == JSON, response["Content-Type"]
    data = json.loads(response.content)
    return data["code"], data["message"]


def partial_success(response: Any) -> tuple[int, str]:
    """(rejected_spans, error_message) of a 200 answer; (0, "") when partial_success is unset."""
    assert response.status_code == 200, (response.status_code, response.content[:500])
    if response["Content-Type"] == PROTOBUF:
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        return partial.rejected_spans, partial.error_message
    assert response["Content-Type"] == JSON, response["Content-Type"]
    data = json.loads(response.content).get("partialSuccess", {})
    return int(data.get("rejectedSpans", 0)), data.get("errorMessage", "")


def encode(trace: AgentTrace, content_type: str) -> bytes:
    spans = trace.built()
    return protobuf(spans) if content_type == PROTOBUF else otlp_json(spans)


def stored_steps(setup: IngestSetup) -> int:
    return Step.objects.filter(project=setup.project).count()


def nothing_stored(setup: IngestSetup) -> bool:
    return stored_steps(setup) == 0 and not Run.objects.filter(project=setup.project).exists()


def test_the_path_is_the_otlp_one() -> None:
    assert reverse("otlp_traces") == URL


# --- requests that fail whole ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client: Client, ingest: IngestSetup, method: str) -> None:
    response = getattr(client, method)(URL, headers={"Authorization": f"Bearer {ingest.key}"})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    code, message = rpc_status(response)
    assert code == UNIMPLEMENTED
    assert "POST" in message


@pytest.mark.parametrize("content_type", ["text/plain", "application/grpc", "application/protobuf", "application/xml"])
def test_an_unsupported_content_type_is_415_naming_the_supported_ones(
    client: Client, ingest: IngestSetup, content_type: str
) -> None:
    response = post(client, protobuf(AgentTrace().built()), key=ingest.key, content_type=content_type)
    assert response.status_code == 415
    code, message = rpc_status(response)
    assert code == INVALID_ARGUMENT
    assert content_type in message
    assert "application/x-protobuf" in message
    assert "application/json" in message
    assert nothing_stored(ingest)


def test_without_a_key_the_answer_is_401_saying_how_to_send_one(client: Client, ingest: IngestSetup) -> None:
    response = post(client, protobuf(AgentTrace().built()), key=None)
    assert response.status_code == 401
    assert response["Content-Type"] == PROTOBUF
    code, message = rpc_status(response)
    assert code == UNAUTHENTICATED
    assert "ingest key" in message
    assert "Authorization: Bearer" in message
    assert nothing_stored(ingest)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer aok_not-a-key-of-this-installation"},
        {"Authorization": "Bearer something-else"},
        {"x-api-key": "aok_not-a-key-of-this-installation"},
    ],
    ids=["wrong-bearer", "not-a-key", "wrong-x-api-key"],
)
def test_a_wrong_key_is_401(client: Client, ingest: IngestSetup, headers: dict[str, str]) -> None:
    response = client.post(URL, data=otlp_json(AgentTrace().built()), content_type=JSON, headers=headers)
    assert response.status_code == 401
    assert response["Content-Type"] == JSON
    code, message = rpc_status(response)
    assert code == UNAUTHENTICATED
    assert "invalid or revoked ingest key" in message
    assert nothing_stored(ingest)


def test_a_revoked_key_is_401(client: Client, ingest: IngestSetup) -> None:
    body = protobuf(AgentTrace().built())
    assert post(client, body, key=ingest.key).status_code == 200  # the same key worked before
    key = ingest.project.ingest_keys.get()
    services.ingest_key_revoke(key=key)
    response = post(client, protobuf(AgentTrace().built()), key=ingest.key)
    assert response.status_code == 401
    assert rpc_status(response) == (UNAUTHENTICATED, "invalid or revoked ingest key")
    assert Run.objects.filter(project=ingest.project).count() == 1


def test_the_x_api_key_header_works(client: Client, ingest: IngestSetup) -> None:
    trace = AgentTrace()
    response = client.post(URL, data=protobuf(trace.built()), content_type=PROTOBUF, headers={"x-api-key": ingest.key})
    assert partial_success(response) == (0, "")
    assert api_get(client, ingest.run_url(trace.trace_hex), ingest)["step_count"] == 4


def test_an_api_token_is_not_an_ingest_key(client: Client, ingest: IngestSetup) -> None:
    # The engineer's personal token reads the API; it must not write traces.
    for headers in ({"Authorization": f"Bearer {ingest.token}"}, {"x-api-key": ingest.token}):
        response = client.post(URL, data=protobuf(AgentTrace().built()), content_type=PROTOBUF, headers=headers)
        assert response.status_code == 401
        assert rpc_status(response)[0] == UNAUTHENTICATED
    assert nothing_stored(ingest)


def test_undecodable_protobuf_is_400_with_a_protobuf_status(client: Client, ingest: IngestSetup) -> None:
    # A length prefix promising far more bytes than follow: no protobuf parser can read this.
    response = post(client, b"\x0a\xff\xff\xff\x0f" + b"x" * 20, key=ingest.key)
    assert response.status_code == 400
    assert response["Content-Type"] == PROTOBUF
    code, message = rpc_status(response)
    assert code == INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in message
    assert nothing_stored(ingest)


@pytest.mark.parametrize("body", [b'{"resourceSpans": [', b"not json", b"\xff\xfe{}", b"[]"])
def test_invalid_json_is_400_with_a_json_status(client: Client, ingest: IngestSetup, body: bytes) -> None:
    response = post(client, body, key=ingest.key, content_type="application/json; charset=utf-8")
    assert response.status_code == 400
    assert response["Content-Type"] == JSON
    code, message = rpc_status(response)
    assert code == INVALID_ARGUMENT
    assert "JSON" in message
    assert nothing_stored(ingest)


@override_settings(INGEST_MAX_BODY_BYTES=1024)
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_body_over_the_limit_is_413(client: Client, ingest: IngestSetup, content_type: str) -> None:
    body = encode(AgentTrace(), content_type)
    assert len(body) > 1024
    response = post(client, body, key=ingest.key, content_type=content_type)
    assert response.status_code == 413
    assert response["Content-Type"] == content_type
    code, message = rpc_status(response)
    assert code == RESOURCE_EXHAUSTED
    assert "1024" in message
    assert nothing_stored(ingest)


def _padded_trace() -> bytes:
    # A valid request that compresses very well: one span with a long, repetitive attribute.
    trace = AgentTrace(llm_calls=0)
    trace.spans[0].attrs["padding"] = "all work and no play " * 2000
    return protobuf(trace.built())


@override_settings(INGEST_MAX_BODY_BYTES=4096)
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_small_compressed_body_that_inflates_past_the_limit_is_413(
    client: Client, ingest: IngestSetup, encoding: str
) -> None:
    plain = _padded_trace()
    compressed = gzip.compress(plain) if encoding == "gzip" else zlib.compress(plain)
    assert len(compressed) < 4096 < len(plain)
    response = post(client, compressed, key=ingest.key, **{"Content-Encoding": encoding})
    assert response.status_code == 413
    code, message = rpc_status(response)
    assert code == RESOURCE_EXHAUSTED
    assert f"after {encoding} decompression" in message
    assert nothing_stored(ingest)


@override_settings(INGEST_MAX_BODY_BYTES=4096)
def test_the_same_compressed_body_under_the_limit_is_stored(client: Client, ingest: IngestSetup) -> None:
    # The counterpart of the 413 above: compression itself is fine, only the inflated size was refused.
    trace = AgentTrace()
    plain = protobuf(trace.built())
    assert len(plain) < 4096
    response = post(client, gzip.compress(plain), key=ingest.key, **{"Content-Encoding": "gzip"})
    assert partial_success(response) == (0, "")
    assert api_get(client, ingest.run_url(trace.trace_hex), ingest)["step_count"] == 4


def test_a_body_over_djangos_upload_limit_but_under_the_ingest_limit_is_stored(
    client: Client, ingest: IngestSetup, settings: Any
) -> None:
    # Django refuses request.body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) with a 400; exporters send
    # batches bigger than that, and the endpoint's own limit is the one that must apply.
    trace = AgentTrace()
    trace.spans[1].attrs["gen_ai.input.messages"] = json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "lorem ipsum " * 300_000}]}]
    )
    body = protobuf(trace.built())
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) < settings.INGEST_MAX_BODY_BYTES
    assert partial_success(post(client, body, key=ingest.key)) == (0, "")
    step = api_get(client, ingest.step_url(trace.trace_hex, trace.spans[1].span_id.hex()), ingest)
    assert len(step["input"][0]["parts"][0]["content"]) == len("lorem ipsum " * 300_000)


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br"])
def test_an_unknown_content_encoding_is_415(client: Client, ingest: IngestSetup, encoding: str) -> None:
    response = post(client, protobuf(AgentTrace().built()), key=ingest.key, **{"Content-Encoding": encoding})
    assert response.status_code == 415
    code, message = rpc_status(response)
    assert code == INVALID_ARGUMENT
    assert encoding in message
    assert "gzip" in message
    assert nothing_stored(ingest)


def test_a_corrupt_gzip_body_is_400(client: Client, ingest: IngestSetup) -> None:
    body = gzip.compress(protobuf(AgentTrace().built()))[:-12]
    response = post(client, body, key=ingest.key, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert rpc_status(response)[0] == INVALID_ARGUMENT
    assert nothing_stored(ingest)


# --- partial success ---------------------------------------------------------------------------

INVALID_SPANS: dict[str, tuple[dict[str, Any], str]] = {
    "short-span-id": ({"span_id": os.urandom(7)}, "spanId must be 8 bytes"),
    "zero-span-id": ({"span_id": bytes(8)}, "spanId must not be all zeros"),
    "no-name": ({"name": ""}, "name must not be empty"),
}


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("problem", list(INVALID_SPANS))
def test_one_invalid_span_is_rejected_alone_and_the_rest_is_stored(
    client: Client, ingest: IngestSetup, problem: str, content_type: str
) -> None:
    trace = AgentTrace()
    changes, reason = INVALID_SPANS[problem]
    bad = SpanSpec(
        "retrieve docs",
        {"gen_ai.operation.name": "retrieval"},
        parent=trace.spans[0].span_id,
        start_ns=trace.start_ns + NS,
        end_ns=trace.start_ns + 2 * NS,
    )
    for name, value in changes.items():
        setattr(bad, name, value)
    # The bad span in the middle of the batch: neither its neighbours before nor after may be lost.
    spans = [s.build(trace.trace_id) for s in [*trace.spans[:2], bad, *trace.spans[2:]]]
    body = protobuf(spans) if content_type == PROTOBUF else otlp_json(spans)

    response = post(client, body, key=ingest.key, content_type=content_type)

    assert response["Content-Type"] == content_type
    rejected, message = partial_success(response)
    assert rejected == 1
    assert reason in message
    assert "span 2" in message  # which span of the request it was
    run = api_get(client, ingest.run_url(trace.trace_hex), ingest)
    assert run["step_count"] == 4
    assert Step.objects.filter(project=ingest.project, trace_id=trace.trace_hex).count() == 4
    (root,) = run["steps"]
    assert root["span_id"] == trace.spans[0].span_id.hex()
    assert sorted(c["span_id"] for c in root["children"]) == sorted(s.span_id.hex() for s in trace.spans[1:])


def test_run_values_longer_than_their_columns_are_cut_on_the_run_and_kept_whole_on_the_step(
    client: Client, ingest: IngestSetup
) -> None:
    # Until 2026-12 a 300-character session id failed its whole batch with a 503, retried forever.
    trace = AgentTrace()
    long = {"gen_ai.conversation.id": "s" * 300, "user.id": "u" * 300, "gen_ai.agent.name": "a" * 300}
    chat = SpanSpec(
        "chat " + "m" * 300,
        # OpenInference carries the tags; its spans carry gen_ai.* too, which fill the rest.
        {**long, "openinference.span.kind": "LLM", "gen_ai.request.model": "m" * 300, "tag.tags": ["t" * 300]},
        parent=trace.spans[0].span_id,
        start_ns=trace.start_ns - NS,  # the earliest step: its agent and context are the run's until the root's
        end_ns=trace.start_ns,
    )
    resource = {"service.name": "bot", "service.version": "v" * 300, "deployment.environment.name": "e" * 300}
    body = protobuf([chat.build(trace.trace_id)], resource)

    assert partial_success(post(client, body, key=ingest.key)) == (0, "")

    run = Run.objects.get(project=ingest.project, trace_id=trace.trace_hex)
    assert (run.session_id, run.user_id, run.agent) == ("s" * 200, "u" * 200, "a" * 200)
    assert (run.bundle, run.environment) == ("v" * 200, "e" * 100)
    assert (run.models_used, run.tags) == (["m" * 200], ["t" * 200])
    step = Step.objects.get(project=ingest.project, trace_id=trace.trace_hex)
    assert step.model == "m" * 300
    assert step.context is not None
    assert step.context["tags"] == ["t" * 300]
    assert step.context["clipped"] == {
        "agent": "a" * 300,
        "bundle": "v" * 300,
        "environment": "e" * 300,
        "session_id": "s" * 300,
        "user_id": "u" * 300,
    }


def _logs_request(with_trace_context: bool) -> bytes:
    records = [
        LogRecord(
            time_unix_nano=1_760_000_000 * NS + i,
            observed_time_unix_nano=1_760_000_000 * NS + i,
            severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            severity_text="INFO",
            body=AnyValue(string_value=f"What is the weather in Paris? ({i})"),
            attributes=[KeyValue(key="gen_ai.system", value=AnyValue(string_value="openai"))],
            event_name="gen_ai.user.message",
            # Fixed ids: the outcome must not depend on what random bytes happen to parse as.
            trace_id=bytes(range(1, 17)) if with_trace_context else b"",
            span_id=bytes(range(1, 9)) if with_trace_context else b"",
        )
        for i in range(3)
    ]
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])])
    return request.SerializeToString()


def test_a_logs_payload_posted_to_traces_is_rejected_record_by_record(client: Client, ingest: IngestSetup) -> None:
    # Same field numbers as a trace request: it parses, as spans without ids, which the id rules reject;
    # the records' times and bodies say what it really is.
    response = post(client, _logs_request(with_trace_context=False), key=ingest.key)
    rejected, message = partial_success(response)
    assert rejected == 3
    assert "log record 0: this is an OTLP logs export" in message
    assert nothing_stored(ingest)


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_logs_payload_with_trace_context_is_rejected_record_by_record_saying_what_it_is(
    client: Client, ingest: IngestSetup, content_type: str
) -> None:
    # As protobuf, LogRecord.trace_id is field 9, a Span's attributes: the body cannot be read as a trace
    # request at all. As OTLP/JSON it read as an empty trace request, answered 200 with nothing stored.
    body = _logs_request(with_trace_context=True)
    if content_type == JSON:
        body = json.dumps(MessageToDict(ExportLogsServiceRequest.FromString(body))).encode()
    response = post(client, body, key=ingest.key, content_type=content_type)
    rejected, message = partial_success(response)
    assert rejected == 3
    assert message.startswith("3 spans rejected; first: log record 0: this is an OTLP logs export")
    assert "OTEL_LOGS_EXPORTER=none" in message
    assert nothing_stored(ingest)


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_metrics_payload_is_400_saying_what_it_is(client: Client, ingest: IngestSetup, content_type: str) -> None:
    metric = Metric(name="gen_ai.client.token.usage", gauge=Gauge(data_points=[NumberDataPoint(as_int=5)]))
    request = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )
    body = request.SerializeToString() if content_type == PROTOBUF else json.dumps(MessageToDict(request)).encode()
    response = post(client, body, key=ingest.key, content_type=content_type)
    assert response.status_code == 400
    code, message = rpc_status(response)
    assert (code, message.split(",")[0]) == (INVALID_ARGUMENT, "body is an OTLP metrics export")
    assert nothing_stored(ingest)


# --- success -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "answer"),
    [
        (PROTOBUF, b"", b""),
        (JSON, b"{}", b"{}"),
        (JSON, b'{"resourceSpans": []}', b"{}"),
        (JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": []}]}]}', b"{}"),
    ],
)
def test_an_empty_request_succeeds(
    client: Client, ingest: IngestSetup, content_type: str, body: bytes, answer: bytes
) -> None:
    response = post(client, body, key=ingest.key, content_type=content_type)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response.content == answer
    assert nothing_stored(ingest)


@pytest.mark.parametrize(("content_type", "answer"), [(PROTOBUF, b""), (JSON, b"{}")])
def test_full_success_answers_an_empty_response_in_the_request_encoding(
    client: Client, ingest: IngestSetup, content_type: str, answer: bytes
) -> None:
    trace = AgentTrace()
    response = post(client, encode(trace, content_type), key=ingest.key, content_type=content_type)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response.content == answer
    run = api_get(client, ingest.run_url(trace.trace_hex), ingest)
    assert (run["step_count"], run["llm_calls"], run["tool_calls"]) == (4, 2, 1)


# --- retries -----------------------------------------------------------------------------------

_VOLATILE = {"id", "updated_at"}


def _run_row(setup: IngestSetup, trace: AgentTrace) -> dict[str, Any]:
    run = Run.objects.filter(project=setup.project, trace_id=trace.trace_hex).values().get()
    return {k: v for k, v in run.items() if k not in _VOLATILE}


@pytest.mark.parametrize("retry_as", [PROTOBUF, JSON])
def test_a_retried_batch_stores_nothing_new(client: Client, ingest: IngestSetup, retry_as: str) -> None:
    trace = AgentTrace(tool_error=True)
    assert partial_success(post(client, encode(trace, PROTOBUF), key=ingest.key)) == (0, "")
    before = _run_row(ingest, trace)
    steps_before = list(Step.objects.filter(project=ingest.project).order_by("span_id").values())
    # The run is worth comparing: tokens, cost and counts are all non-zero.
    assert before["input_tokens"] == 2000 and before["output_tokens"] == 200
    assert before["cost_usd"] > 0
    assert (before["step_count"], before["llm_calls"], before["tool_calls"], before["error_count"]) == (4, 2, 1, 1)

    # The exporter never saw the answer and sends the batch again (in either encoding: same spans).
    response = post(client, encode(trace, retry_as), key=ingest.key, content_type=retry_as)

    assert partial_success(response) == (0, "")
    assert _run_row(ingest, trace) == before
    assert list(Step.objects.filter(project=ingest.project).order_by("span_id").values()) == steps_before


def test_a_retry_merged_with_new_spans_adds_only_the_new_ones(client: Client, ingest: IngestSetup) -> None:
    # A BatchSpanProcessor that failed to hear the answer may resend its spans inside a larger batch.
    trace = AgentTrace()
    spans = trace.built()
    assert partial_success(post(client, protobuf(spans[:2]), key=ingest.key)) == (0, "")
    assert partial_success(post(client, protobuf(spans), key=ingest.key)) == (0, "")

    # The same trace sent once, whole, to another project: the run must come out the same.
    other = setup_for(make_project(), make_engineer(ingest.project))
    assert partial_success(post(client, protobuf(spans), key=other.key)) == (0, "")

    merged, whole = _run_row(ingest, trace), _run_row(other, trace)
    assert merged.pop("project_id") != whole.pop("project_id")
    assert merged == whole
    assert merged["step_count"] == 4
    assert Step.objects.filter(project=ingest.project).count() == 4


def test_the_same_trace_in_two_projects_makes_two_runs_each_counting_its_own_steps(
    client: Client, ingest: IngestSetup
) -> None:
    # Trace ids are chosen by senders, not by us: another tenant may send the very same ids (a replayed
    # fixture, a shared demo), and must neither see nor change this project's run.
    trace = AgentTrace()
    spans = trace.built()
    other = setup_for(make_project(), make_engineer(ingest.project))
    assert partial_success(post(client, protobuf(spans), key=ingest.key)) == (0, "")
    mine = _run_row(ingest, trace)

    assert partial_success(post(client, protobuf(spans), key=other.key)) == (0, "")
    assert partial_success(post(client, protobuf(spans[:2]), key=other.key)) == (0, "")

    assert _run_row(ingest, trace) == mine
    assert mine["step_count"] == 4
    assert _run_row(other, trace) | {"project_id": mine["project_id"]} == mine
    assert Step.objects.filter(project=ingest.project).count() == 4
    assert Step.objects.filter(project=other.project).count() == 4


BATCH_WORK = (decode.decode_request.__code__, traces_services.ingest_batch.__code__)


def test_storing_a_batch_runs_no_cyclic_collection(client: Client, ingest: IngestSetup) -> None:
    # A batch is tens of thousands of acyclic objects, freed by reference counting: the collections
    # their allocations would trigger only walk them (agentops.heap.collections_paused).
    body = protobuf([span for _ in range(20) for span in AgentTrace().built()])
    in_ingest: list[bool] = []  # for each collection: whether it ran while a batch was being ingested

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            frame: FrameType | None = sys._getframe(1)
            while frame is not None and frame.f_code not in BATCH_WORK:
                frame = frame.f_back
            in_ingest.append(frame is not None)

    threshold = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's default: without the pause, a batch triggers dozens
    gc.callbacks.append(record)
    try:
        response = post(client, body, key=ingest.key)
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*threshold)
    assert partial_success(response) == (0, "")
    assert stored_steps(ingest) == len(AgentTrace().built()) * 20
    assert in_ingest.count(True) == 0
    assert in_ingest  # the callback saw collections (the first request imports the URLconf)
