"""traces.ingest.decode: OTLP protobuf and JSON requests to Spans, per-span rejections, response bodies."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from traces.ingest.decode import (
    decode_request,
    encode_response,
    encode_status,
    media_type,
    rejection_message,
    response_media_type,
)
from traces.ingest.errors import DecodeError, UnsupportedMediaType
from traces.ingest.spans import DecodedBatch, Span

PB = "application/x-protobuf"
JS = "application/json"
T0 = 1_760_000_000_000_000_000  # 2025-10-09, in ns

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"


# --- builders -----------------------------------------------------------------------------------


def _kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=_any(value))


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[_kv(k, v) for k, v in value.items()]))
    if value is None:
        return AnyValue()
    return AnyValue(string_value=value)


_INPUT_MESSAGES = json.dumps(
    [
        {"role": "system", "parts": [{"type": "text", "content": "You are a careful travel agent. " * 16}]},
        {"role": "user", "parts": [{"type": "text", "content": "Find me a flight to Lisbon next Friday. " * 10}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "search_flights", "arguments": {"to": "LIS"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "TP1234 09:40 " * 20}]},
    ]
)
_OUTPUT_MESSAGES = json.dumps(
    [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "TP1234 leaves at 09:40. " * 6}],
            "finish_reason": "stop",
        }
    ]
)


def _llm_attributes(i: int) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": f"chatcmpl-{i:08d}",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 1024,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 1200 + i,
        "gen_ai.usage.output_tokens": 80,
        "gen_ai.usage.cache_read.input_tokens": 512,
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.input.messages": _INPUT_MESSAGES,
        "gen_ai.output.messages": _OUTPUT_MESSAGES,
    }


def _tool_attributes(i: int) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search_flights",
        "gen_ai.tool.call.id": f"call_{i}",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.arguments": '{"to": "LIS", "date": "2025-10-17"}',
        "gen_ai.tool.call.result": '{"flights": [{"id": "TP1234", "dep": "09:40"}]}',
    }


def realistic_request(n_spans: int = 512) -> ExportTraceServiceRequest:
    """Agent runs as exporters send them: per trace 1 agent root, 6 LLM calls (~1.5 KB of input messages
    each) and 5 tool calls, under one resource and one scope."""
    spans: list[PbSpan] = []
    trace_no = 0
    while len(spans) < n_spans:
        trace_no += 1
        trace_id = trace_no.to_bytes(16, "big")
        root_id = (trace_no << 8 | 1).to_bytes(8, "big")
        start = T0 + trace_no * 10_000_000_000
        spans.append(
            PbSpan(
                trace_id=trace_id,
                span_id=root_id,
                name="invoke_agent travel",
                kind=PbSpan.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start,
                end_time_unix_nano=start + 9_000_000_000,
                attributes=[_kv("gen_ai.operation.name", "invoke_agent"), _kv("gen_ai.agent.name", "travel")],
                status=Status(code=Status.STATUS_CODE_OK),
            )
        )
        for j in range(11):
            is_llm = j % 2 == 0
            attributes = _llm_attributes(j) if is_llm else _tool_attributes(j)
            spans.append(
                PbSpan(
                    trace_id=trace_id,
                    span_id=(trace_no << 8 | (j + 2)).to_bytes(8, "big"),
                    parent_span_id=root_id,
                    name="chat gpt-4o" if is_llm else "execute_tool search_flights",
                    kind=PbSpan.SPAN_KIND_CLIENT if is_llm else PbSpan.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=start + j * 700_000_000,
                    end_time_unix_nano=start + j * 700_000_000 + 600_000_000,
                    attributes=[_kv(k, v) for k, v in attributes.items()],
                )
            )
    resource = Resource(
        attributes=[
            _kv("service.name", "travel-agent"),
            _kv("service.version", "1.4.2"),
            _kv("deployment.environment.name", "production"),
            _kv("telemetry.sdk.language", "python"),
        ]
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource,
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name="openai.agents", version="0.3"), spans=spans[:n_spans])
                ],
            )
        ]
    )


def to_otlp_json(request: ExportTraceServiceRequest, **options: Any) -> dict[str, Any]:
    """OTLP/JSON as the spec writes it: proto3 JSON, except that trace and span ids are hex."""
    document = json_format.MessageToDict(request, **options)

    def fix_ids(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
                    node[key] = base64.b64decode(value).hex()
                else:
                    fix_ids(value)
        elif isinstance(node, list):
            for item in node:
                fix_ids(item)

    fix_ids(document)
    return document


def _decode_json(document: Any) -> DecodedBatch:
    return decode_request(json.dumps(document).encode(), JS)


def _json_span(**fields: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": TRACE_HEX,
        "spanId": SPAN_HEX,
        "name": "chat gpt-4o",
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 1000),
    }
    span.update(fields)
    return {key: value for key, value in span.items() if value is not None}


def _json_request(*spans: dict[str, Any], resource: Any = None) -> dict[str, Any]:
    resource_spans: dict[str, Any] = {"scopeSpans": [{"scope": {"name": "s", "version": "1"}, "spans": list(spans)}]}
    if resource is not None:
        resource_spans["resource"] = {"attributes": resource}
    return {"resourceSpans": [resource_spans]}


def _one_json_span(**fields: Any) -> Span:
    batch = _decode_json(_json_request(_json_span(**fields)))
    assert batch.rejections == []
    [span] = batch.spans
    return span


def _json_reason(**fields: Any) -> str:
    batch = _decode_json(_json_request(_json_span(**fields)))
    assert batch.spans == []
    [rejection] = batch.rejections
    return rejection.reason


# --- protobuf -----------------------------------------------------------------------------------


def test_protobuf_round_trip_of_a_realistic_batch() -> None:
    request = realistic_request(512)
    batch = decode_request(request.SerializeToString(), PB)

    assert batch.rejections == []
    assert len(batch.spans) == 512
    root, llm, tool = batch.spans[0], batch.spans[1], batch.spans[2]
    assert root.trace_id == (1).to_bytes(16, "big")
    assert root.span_id == (1 << 8 | 1).to_bytes(8, "big")
    assert root.parent_span_id is None
    assert root.status_code == 1
    assert root.kind == 1
    assert llm.parent_span_id == root.span_id
    assert llm.kind == 3
    assert llm.name == "chat gpt-4o"
    assert llm.start_time_unix_nano == T0 + 10_000_000_000
    assert llm.end_time_unix_nano == T0 + 10_600_000_000
    assert llm.attributes == _llm_attributes(0)
    assert isinstance(llm.attributes["gen_ai.usage.input_tokens"], int)
    assert isinstance(llm.attributes["gen_ai.request.temperature"], float)
    assert tool.attributes == _tool_attributes(1)
    assert llm.resource == {
        "service.name": "travel-agent",
        "service.version": "1.4.2",
        "deployment.environment.name": "production",
        "telemetry.sdk.language": "python",
    }
    assert (llm.scope_name, llm.scope_version) == ("openai.agents", "0.3")


def test_protobuf_spans_exported_by_the_real_sdk() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=SdkResource.create({"service.name": "sdk-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.scope", "2.0")
    with (
        tracer.start_as_current_span("invoke_agent a", kind=SpanKind.INTERNAL) as root,
        tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as child,
    ):
        child.set_attribute("gen_ai.usage.input_tokens", 12)
        child.set_attribute("gen_ai.response.finish_reasons", ["stop", "length"])
        child.add_event("gen_ai.choice", {"index": 0})
        child.add_link(root.get_span_context(), {"why": "x"})
        child.set_status(StatusCode.ERROR, "boom")
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()

    batch = decode_request(body, PB)

    assert batch.rejections == []
    child_span, root_span = batch.spans  # the child ends first
    root_ctx = root.get_span_context()
    assert root_span.trace_id == root_ctx.trace_id.to_bytes(16, "big")
    assert child_span.parent_span_id == root_ctx.span_id.to_bytes(8, "big")
    assert child_span.kind == 3
    assert (child_span.status_code, child_span.status_message) == (2, "boom")
    assert child_span.attributes == {
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.response.finish_reasons": ["stop", "length"],
    }
    assert [(e.name, e.attributes) for e in child_span.events] == [("gen_ai.choice", {"index": 0})]
    assert child_span.events[0].time_unix_nano >= child_span.start_time_unix_nano
    [link] = child_span.links
    assert (link.trace_id, link.span_id, link.attributes) == (root_span.trace_id, root_span.span_id, {"why": "x"})
    assert child_span.resource["service.name"] == "sdk-agent"
    assert (child_span.scope_name, child_span.scope_version) == ("my.scope", "2.0")


def test_protobuf_any_values_of_every_kind() -> None:
    attributes = {"s": "x", "i": -(2**63), "b": False, "d": 1.5, "raw": b"\x00\xff", "empty": None}
    attributes["nested"] = {"list": [1, "two", [3.0, True]], "map": {"k": b"v"}}
    request = realistic_request(1)
    del request.resource_spans[0].scope_spans[0].spans[0].attributes[:]
    request.resource_spans[0].scope_spans[0].spans[0].attributes.extend(_kv(k, v) for k, v in attributes.items())

    [span] = decode_request(request.SerializeToString(), PB).spans

    assert span.attributes == attributes


def test_protobuf_garbage_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="not a valid OTLP ExportTraceServiceRequest protobuf") as caught:
        decode_request(b"\x0a\xff\xff\xff\xff\x0f garbage", PB)
    assert caught.value.http_status == 400


def test_empty_protobuf_body_is_an_empty_batch() -> None:
    assert decode_request(b"", PB) == DecodedBatch(spans=[], rejections=[])


def test_a_logs_payload_posted_as_traces_is_rejected_record_by_record() -> None:
    logs = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(time_unix_nano=T0, body=AnyValue(string_value="hello"), severity_text="INFO"),
                            LogRecord(time_unix_nano=T0 + 1, body=AnyValue(string_value="again")),
                        ]
                    )
                ]
            )
        ]
    )

    batch = decode_request(logs.SerializeToString(), PB)

    assert batch.spans == []
    assert [r.index for r in batch.rejections] == [0, 1]
    assert batch.rejections[0].reason.startswith("log record 0: this is an OTLP logs export")


def _pb_batch_with(**bad: Any) -> DecodedBatch:
    request = realistic_request(12)
    spans = request.resource_spans[0].scope_spans[0].spans
    for field, value in bad.items():
        if field == "link":
            spans[3].links.add(trace_id=value[0], span_id=value[1])
        else:
            setattr(spans[3], field, value)
    return decode_request(request.SerializeToString(), PB)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"trace_id": b"\x01" * 8}, "traceId must be 16 bytes (32 hex characters), got 8"),
        ({"trace_id": b"\x00" * 16}, "traceId must not be all zeros"),
        ({"span_id": b""}, "spanId must be 8 bytes (16 hex characters), got 0"),
        ({"span_id": b"\x00" * 8}, "spanId must not be all zeros"),
        ({"parent_span_id": b"\x01" * 4}, "parentSpanId must be empty or 8 bytes (16 hex characters), got 4"),
        ({"name": ""}, "name must not be empty"),
        ({"start_time_unix_nano": 0}, "startTimeUnixNano is required"),
        ({"end_time_unix_nano": T0}, f"endTimeUnixNano ({T0}) is before startTimeUnixNano ({T0 + 11_400_000_000})"),
        ({"link": (b"\x01" * 16, b"\x02" * 3)}, "link 0: spanId must be 8 bytes (16 hex characters), got 3"),
    ],
)
def test_one_bad_protobuf_span_is_rejected_and_the_rest_kept(bad: dict[str, Any], reason: str) -> None:
    batch = _pb_batch_with(**bad)

    assert [(r.index, r.reason) for r in batch.rejections] == [(3, f"span 3: {reason}")]
    assert len(batch.spans) == 11
    assert all(span.name for span in batch.spans)


def test_rejection_index_counts_across_resources_and_scopes() -> None:
    request = realistic_request(4)
    extra = ResourceSpans(scope_spans=[ScopeSpans(spans=[PbSpan(name="no ids")])])
    request.resource_spans.append(extra)
    request.resource_spans.append(request.resource_spans[0])

    batch = decode_request(request.SerializeToString(), PB)

    assert [r.index for r in batch.rejections] == [4]
    assert len(batch.spans) == 8


def test_all_zero_parent_is_a_root_and_unknown_enums_are_unspecified() -> None:
    request = realistic_request(2)
    span = request.resource_spans[0].scope_spans[0].spans[1]
    span.parent_span_id = b"\x00" * 8
    span.kind = 42
    span.status.code = 9

    decoded = decode_request(request.SerializeToString(), PB).spans[1]

    assert (decoded.parent_span_id, decoded.kind, decoded.status_code) == (None, 0, 0)


# --- JSON ---------------------------------------------------------------------------------------


def test_json_and_protobuf_decode_to_the_same_spans() -> None:
    request = realistic_request(36)
    request.resource_spans[0].scope_spans[0].spans[1].events.add(
        name="exception", time_unix_nano=T0 + 5, attributes=[_kv("exception.type", "ValueError"), _kv("raw", b"\x01")]
    )
    request.resource_spans[0].scope_spans[0].spans[1].links.add(trace_id=b"\x07" * 16, span_id=b"\x08" * 8)
    from_protobuf = decode_request(request.SerializeToString(), PB)

    camel = _decode_json(to_otlp_json(request))
    snake_with_int_enums = _decode_json(
        to_otlp_json(request, preserving_proto_field_name=True, use_integers_for_enums=True)
    )

    assert from_protobuf.rejections == []
    assert camel == from_protobuf
    assert snake_with_int_enums == from_protobuf


def test_json_hex_ids_become_16_and_8_bytes() -> None:
    span = _one_json_span(parentSpanId=PARENT_HEX)

    assert span.trace_id == bytes.fromhex(TRACE_HEX)
    assert len(span.trace_id) == 16
    assert span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == bytes.fromhex(PARENT_HEX)


def test_json_uppercase_hex_is_accepted() -> None:
    assert _one_json_span(traceId=TRACE_HEX.upper()).trace_id == bytes.fromhex(TRACE_HEX)


def test_json_base64_ids_are_rejected_with_a_message() -> None:
    as_base64 = base64.b64encode(bytes.fromhex(TRACE_HEX)).decode()  # what proto3 JSON would write

    assert _json_reason(traceId=as_base64).startswith("span 0: traceId is not hex: ")


@pytest.mark.parametrize("start", [T0, str(T0), float(1_700_000_000_000_000_000)])
def test_json_int64_as_string_or_number(start: Any) -> None:
    span = _one_json_span(startTimeUnixNano=start, endTimeUnixNano=None)

    assert span.start_time_unix_nano == int(start)
    assert span.end_time_unix_nano == 0


@pytest.mark.parametrize("value", [-(2**63), "-9223372036854775808", 2**63 - 1, "42", 42.0])
def test_json_int_value_as_string_or_number(value: Any) -> None:
    span = _one_json_span(attributes=[{"key": "n", "value": {"intValue": value}}])

    assert span.attributes == {"n": int(value)}
    assert isinstance(span.attributes["n"], int)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12a", "attribute 'n': intValue must be an integer, got '12a'"),
        (True, "attribute 'n': intValue must be an integer, got True"),
        (2**63, f"attribute 'n': intValue is out of range: {2**63}"),
        (1.5, "attribute 'n': intValue must be an integer, got 1.5"),
    ],
)
def test_json_bad_int_value_rejects_the_span(value: Any, reason: str) -> None:
    assert _json_reason(attributes=[{"key": "n", "value": {"intValue": value}}]) == f"span 0: {reason}"


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("SPAN_KIND_CLIENT", {"code": "STATUS_CODE_ERROR", "message": "bad"}, (3, 2, "bad")),
        (3, {"code": 2}, (3, 2, "")),
        ("2", {"code": "1"}, (2, 1, "")),
        (None, None, (0, 0, "")),
        (None, {}, (0, 0, "")),
        (17, {"code": 7}, (0, 0, "")),
    ],
)
def test_json_enums_as_names_or_numbers_and_defaults(kind: Any, status: Any, expected: tuple[int, int, str]) -> None:
    span = _one_json_span(kind=kind, status=status)

    assert (span.kind, span.status_code, span.status_message) == expected


def test_json_unknown_enum_name_rejects_the_span() -> None:
    assert _json_reason(kind="SPAN_KIND_BOGUS") == "span 0: kind must be an integer, got 'SPAN_KIND_BOGUS'"


def test_json_snake_case_keys() -> None:
    document = {
        "resource_spans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "svc"}}]},
                "scope_spans": [
                    {
                        "scope": {"name": "sc"},
                        "spans": [
                            {
                                "trace_id": TRACE_HEX,
                                "span_id": SPAN_HEX,
                                "parent_span_id": PARENT_HEX,
                                "name": "n",
                                "start_time_unix_nano": T0,
                                "end_time_unix_nano": T0 + 1,
                                "attributes": [{"key": "k", "value": {"kvlist_value": {"values": []}}}],
                                "events": [{"name": "e", "time_unix_nano": "5"}],
                            }
                        ],
                    }
                ],
            }
        ]
    }

    [span] = _decode_json(document).spans

    assert span.parent_span_id == bytes.fromhex(PARENT_HEX)
    assert span.resource == {"service.name": "svc"}
    assert span.attributes == {"k": {}}
    assert span.events[0].time_unix_nano == 5
    assert span.scope_name == "sc"


def test_json_any_values_nest_arrays_and_kvlists() -> None:
    value = {
        "kvlistValue": {
            "values": [
                {"key": "list", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "two"}, {}]}}},
                {"key": "inner", "value": {"kvlistValue": {"values": [{"key": "ok", "value": {"boolValue": True}}]}}},
                {"key": "novalue"},
                {"key": "bytes", "value": {"bytesValue": base64.b64encode(b"\x00\xfe\xff").decode()}},
                {"key": "urlsafe", "value": {"bytesValue": "AP7_"}},
                {"key": "d", "value": {"doubleValue": 2}},
                {"key": "nan", "value": {"doubleValue": "NaN"}},
                {"key": "inf", "value": {"doubleValue": "-Infinity"}},
                {"key": "future", "value": {"someNewKind": 1}},
            ]
        }
    }

    attributes = _one_json_span(attributes=[{"key": "x", "value": value}]).attributes["x"]

    assert attributes["list"] == [1, "two", None]
    assert attributes["inner"] == {"ok": True}
    assert attributes["novalue"] is None
    assert attributes["bytes"] == b"\x00\xfe\xff"
    assert attributes["urlsafe"] == b"\x00\xfe\xff"
    assert attributes["d"] == 2.0 and isinstance(attributes["d"], float)
    assert math.isnan(attributes["nan"])
    assert attributes["inf"] == -math.inf
    assert attributes["future"] is None


def test_json_omitted_defaults() -> None:
    span = _one_json_span(endTimeUnixNano=None)

    assert span.parent_span_id is None
    assert (span.kind, span.status_code, span.status_message, span.end_time_unix_nano) == (0, 0, "", 0)
    assert (span.attributes, span.events, span.links, span.resource) == ({}, (), (), {})


def test_json_empty_parent_span_id_is_a_root() -> None:
    assert _one_json_span(parentSpanId="").parent_span_id is None


def test_json_unknown_fields_are_ignored() -> None:
    document = _json_request(_json_span(traceState="x", flags=1, droppedAttributesCount=3, whatever={"a": 1}))
    document["somethingNew"] = [1, 2]

    assert len(_decode_json(document).spans) == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"traceId": None}, "traceId must be 16 bytes (32 hex characters), got 0"),
        ({"traceId": "00" * 16}, "traceId must not be all zeros"),
        ({"traceId": "abc"}, "traceId is not hex: 'abc'"),
        ({"traceId": 12}, "traceId must be a hex string, got int"),
        ({"spanId": "ab" * 4}, "spanId must be 8 bytes (16 hex characters), got 4"),
        ({"parentSpanId": "ab" * 5}, "parentSpanId must be empty or 8 bytes (16 hex characters), got 5"),
        ({"name": ""}, "name must not be empty"),
        ({"name": 5}, "name must be a string, got int"),
        ({"startTimeUnixNano": None}, "startTimeUnixNano is required"),
        ({"endTimeUnixNano": str(T0 - 1)}, f"endTimeUnixNano ({T0 - 1}) is before startTimeUnixNano ({T0})"),
        ({"startTimeUnixNano": "-5"}, "startTimeUnixNano is out of range: -5"),
        ({"attributes": {"k": "v"}}, "attributes must be an array, got dict"),
        ({"attributes": [{"key": "k", "value": {"stringValue": 5}}]}, "attribute 'k': stringValue must be a string, got int"),
        ({"attributes": [{"value": {"stringValue": "v"}}]}, "an attribute must be an object with a string key, got {'value': {'stringValue': 'v'}}"),
        ({"attributes": [{"key": "b", "value": {"bytesValue": "!!"}}]}, "attribute 'b': bytesValue is not base64: '!!'"),
        ({"links": [{"traceId": TRACE_HEX, "spanId": "zz"}]}, "link 0: spanId is not hex: 'zz'"),
        ({"links": [{"traceId": TRACE_HEX}]}, "link 0: spanId must be 8 bytes (16 hex characters), got 0"),
        ({"status": "ERROR"}, "status must be an object, got str"),
    ],
)  # fmt: skip
def test_one_bad_json_span_is_rejected_and_the_rest_kept(fields: dict[str, Any], reason: str) -> None:
    good = _json_span()
    document = _json_request(good, good, _json_span(**fields), good)

    batch = _decode_json(document)

    assert [(r.index, r.reason) for r in batch.rejections] == [(2, f"span 2: {reason}")]
    assert len(batch.spans) == 3


def test_json_span_that_is_not_an_object_is_rejected_alone() -> None:
    batch = _decode_json(_json_request(_json_span(), "oops"))  # type: ignore[arg-type]

    assert [r.reason for r in batch.rejections] == ["span 1: must be an object, got str"]
    assert len(batch.spans) == 1


def test_json_bad_resource_rejects_only_its_spans() -> None:
    document = _json_request(_json_span(), _json_span(), resource=[{"key": "service.name", "value": "plain"}])
    document["resourceSpans"].append(_json_request(_json_span())["resourceSpans"][0])

    batch = _decode_json(document)

    assert [r.reason for r in batch.rejections] == [
        "span 0: resource: attribute 'service.name': an AnyValue must be an object, got str",
        "span 1: resource: attribute 'service.name': an AnyValue must be an object, got str",
    ]
    assert len(batch.spans) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body is not valid JSON"),
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe\x00garbage", "body is not valid JSON"),
        (b"[]", "an OTLP/JSON body must be an object, got list"),
        (b'"resourceSpans"', "an OTLP/JSON body must be an object, got str"),
        (b'{"resourceSpans": {}}', "resourceSpans must be an array, got dict"),
        (b'{"resourceSpans": [1]}', "resourceSpans[0] must be an object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]}',
            "resourceSpans[0].scopeSpans[0]: spans must be an array",
        ),
    ],
)
def test_json_that_is_not_an_otlp_request_is_a_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match="^" + message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        decode_request(body, JS)


def test_json_empty_object_is_an_empty_batch() -> None:
    assert decode_request(b"{}", JS) == DecodedBatch(spans=[], rejections=[])


# --- content types and responses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", PB),
        ("Application/X-Protobuf", PB),
        ("application/json", JS),
        ("application/json; charset=utf-8", JS),
        (" application/json ;charset=UTF-8", JS),
    ],
)
def test_supported_content_types(content_type: str, expected: str) -> None:
    assert media_type(content_type) == expected


@pytest.mark.parametrize("content_type", ["text/plain", "application/protobuf", "", "application/jsonx", None])
def test_unsupported_content_type_is_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType, match="supported: application/x-protobuf, application/json") as caught:
        decode_request(b"{}", content_type)  # type: ignore[arg-type]
    assert caught.value.http_status == 415
    assert response_media_type(content_type) == JS


def test_full_success_response_is_empty_in_both_encodings() -> None:
    assert encode_response(0, "", PB) == b""
    assert encode_response(0, "", JS) == b"{}"


def test_partial_success_response_in_protobuf() -> None:
    body = encode_response(2, "2 spans rejected; first: span 0: name must not be empty", PB)

    response = ExportTraceServiceResponse.FromString(body)
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "2 spans rejected; first: span 0: name must not be empty"


def test_partial_success_response_in_json_is_valid_proto3_json() -> None:
    body = encode_response(3, "three — spans", "application/json; charset=utf-8")

    response = json_format.Parse(body, ExportTraceServiceResponse())
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (3, "three — spans")
    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "three — spans"}}


@pytest.mark.parametrize("code", [3, 8, 0, 300, -1])
def test_status_in_protobuf_parses_as_google_rpc_status(code: int) -> None:
    message = "Content-Type 'text/plain' is not supported; supported: application/x-protobuf, application/json é"

    status = status_pb2.Status.FromString(encode_status(code, message, PB))

    assert (status.code, status.message) == (code, message)


def test_status_in_json_and_for_unsupported_content_types() -> None:
    for content_type in (JS, "text/plain"):
        status = json_format.Parse(encode_status(3, "bad", content_type), status_pb2.Status())
        assert (status.code, status.message) == (3, "bad")
    assert encode_status(0, "", PB) == b""


def test_rejection_message_names_the_count_and_first_problem() -> None:
    batch = _pb_batch_with(name="")

    assert (
        rejection_message([r.reason for r in batch.rejections])
        == "1 span rejected; first: span 3: name must not be empty"
    )
    assert rejection_message([]) == ""
    logs_like = decode_request(ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[PbSpan(), PbSpan()])])]).SerializeToString(), PB)  # fmt: skip
    assert rejection_message([r.reason for r in logs_like.rejections]).startswith(
        "2 spans rejected; first: span 0: traceId"
    )
