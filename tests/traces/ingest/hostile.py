"""Hostile OTLP requests, shared by the decode tests, the endpoint tests and the fuzz corpus: each is a
batch of one valid span beside one span that carries the hostile part."""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

NS = 1_000_000_000
TRACE_HEX = "5b8efff798038103d269b633813fc60c"
GOOD_SPAN_HEX = "00000000000000a1"
BAD_SPAN_HEX = "00000000000000b2"


def now_ns() -> int:
    return time.time_ns() - 60 * NS


# Deep values are written as wire bytes: python protobuf cannot build (it copies by parsing) a message
# nested past its parser's 100 levels.


def _varint(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def kvlist(depth: int) -> bytes:
    """An AnyValue (wire bytes) of `depth` kvlistValue levels around a string."""
    value = AnyValue(string_value="bottom").SerializeToString()
    for _ in range(depth):  # AnyValue.kvlist_value = 6, KeyValueList.values = 1, KeyValue.key = 1, .value = 2
        value = _field(6, _field(1, _field(1, b"k") + _field(2, value)))
    return value


def array(depth: int) -> bytes:
    """An AnyValue (wire bytes) of `depth` arrayValue levels around a string."""
    value = AnyValue(string_value="bottom").SerializeToString()
    for _ in range(depth):  # AnyValue.array_value = 5, ArrayValue.values = 1
        value = _field(5, _field(1, value))
    return value


def pb_span(
    span_hex: str, name: str = "step", start: int | None = None, end: int | None = None, **attrs: Any
) -> PbSpan:
    start = now_ns() if start is None else start
    attributes = [
        KeyValue(key=key, value=value if isinstance(value, AnyValue) else AnyValue(string_value=value))
        for key, value in attrs.items()
    ]
    return PbSpan(
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=bytes.fromhex(span_hex),
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=min(start + NS, (1 << 64) - 1) if end is None else end,
        attributes=attributes,
    )


def pb_batch(*spans: PbSpan) -> bytes:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])])
    return request.SerializeToString()


def pb_with_bad_utf8_name() -> bytes:
    """A valid span beside one whose name is not UTF-8 (python protobuf refuses to parse the request)."""
    body = pb_batch(pb_span(GOOD_SPAN_HEX), pb_span(BAD_SPAN_HEX, name="bad-name-XY"))
    return body.replace(b"bad-name-XY", b"bad-name-\xff\xfe")


def pb_with_deep(value: bytes) -> bytes:
    """A valid span beside one with the attribute "deep" = `value` (AnyValue wire bytes)."""
    bad = pb_span(BAD_SPAN_HEX).SerializeToString() + _field(9, _field(1, b"deep") + _field(2, value))  # attributes = 9
    scope_spans = _field(2, pb_span(GOOD_SPAN_HEX).SerializeToString()) + _field(2, bad)  # ScopeSpans.spans = 2
    return _field(1, _field(2, scope_spans))  # request.resource_spans = 1, ResourceSpans.scope_spans = 2


# --- OTLP/JSON, written as text: json.dumps itself recurses on deep values --------------------------


def json_kvlist(depth: int) -> str:
    return '{"kvlistValue":{"values":[{"key":"k","value":' * depth + '{"stringValue":"bottom"}' + "}]}}" * depth


def json_array(depth: int) -> str:
    return '{"arrayValue":{"values":[' * depth + '{"stringValue":"bottom"}' + "]}}" * depth


def json_span(span_hex: str, start: int | None = None, end: int | None = None, attributes: str = "[]") -> str:
    start = now_ns() if start is None else start
    end = min(start + NS, (1 << 64) - 1) if end is None else end
    head = json.dumps(
        {
            "traceId": TRACE_HEX,
            "spanId": span_hex,
            "name": "step",
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end),
        }
    )
    return head[:-1] + f', "attributes": {attributes}}}'


# What makes each convention read the attribute (traces.ingest.conventions).
CONTEXT = {
    "gen_ai.tool.call.arguments": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"},
    "input.value": {"openinference.span.kind": "LLM"},
    "traceloop.entity.input": {"traceloop.span.kind": "workflow"},
}
_CHAT = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}


def json_attribute(key: str, value_json: str) -> str:
    context = "".join(
        f', {{"key": {json.dumps(k)}, "value": {{"stringValue": {json.dumps(v)}}}}}'
        for k, v in CONTEXT.get(key, _CHAT).items()
    )
    return f'[{{"key": {json.dumps(key)}, "value": {value_json}}}{context}]'


def json_batch(*spans: str) -> bytes:
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[' + ",".join(spans) + "]}]}]}").encode()


def json_with_bad_attribute(value_json: str, key: str = "deep") -> bytes:
    return json_batch(json_span(GOOD_SPAN_HEX), json_span(BAD_SPAN_HEX, attributes=json_attribute(key, value_json)))


def json_with_string(key: str, text: str) -> bytes:
    return json_with_bad_attribute(json.dumps({"stringValue": text}), key=key)


# The attributes whose text conventions parse as JSON (traces.ingest.conventions.base.loads).
JSON_TEXT_KEYS = (
    "gen_ai.prompt",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.call.arguments",
    "input.value",
    "traceloop.entity.input",
)
BRACKETS = ("[" * 1000, "[" * 1000 + "]" * 1000, "[0," * 900 + "0" + "]" * 900, '{"a":' * 600 + "1" + "}" * 600)
# As deep as JSON text is parsed (orjson writes 254 levels): every later walk must take it.
DEEPEST_PARSED = (
    "[" * 254 + "]" * 254,
    '{"role":' * 253 + '"user"' + "}" * 253,
    '[{"role": "user", "content": ' + '[{"type": "text", "text": ' * 120 + '"x"' + "}]" * 120 + "}]",
)
