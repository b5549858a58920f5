"""Decoding an OTLP trace export request into `Span`s, and encoding the answers.

`decode_request(body, content_type, window)` takes a decompressed body and returns a `DecodedBatch`: the
valid spans, and a `Rejection` for each invalid span (bad or all-zero ids, no name, no start, end before
start, a time outside `window`). One bad span never fails the batch: a protobuf body that does not parse
whole (a string that is not UTF-8, nesting past the parser's 100 levels) is parsed again piece by piece,
so that only the spans (or the resource or scope) that do not parse are rejected. Attribute values
nested deeper than MAX_VALUE_DEPTH are cut there (traces.ingest.spans). The whole request fails only
when it cannot be read at all:
`UnsupportedMediaType` (415) for a Content-Type other than protobuf or JSON, `DecodeError` (400) for a
body that is not an ExportTraceServiceRequest. A logs export posted here is a rejection per record, a
metrics export a DecodeError naming it (`signals`).

The JSON walk lives in `decode_json`, the span rules in `validate`.

`encode_response` and `encode_status` build the ExportTraceServiceResponse (200) and google.rpc.Status
(400, 413, 415) bodies in the encoding of the request, as the OTLP spec asks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from traces.ingest import signals
from traces.ingest.decode_json import decode_json
from traces.ingest.errors import DecodeError, UnsupportedMediaType
from traces.ingest.spans import (
    MAX_VALUE_DEPTH,
    TOO_DEEP,
    Attributes,
    DecodedBatch,
    Rejection,
    Span,
    SpanEvent,
    SpanLink,
)
from traces.ingest.validate import STORABLE, TimeWindow, links_problem, parent_or_none, span_problem

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SUPPORTED_MEDIA_TYPES = f"{PROTOBUF}, {JSON}"


def media_type(content_type: str | None) -> str:
    """The OTLP encoding named by a Content-Type header (parameters such as charset are ignored)."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in (PROTOBUF, JSON):
        return base
    raise UnsupportedMediaType(
        f"Content-Type {content_type or '(none)'!r} is not supported; supported: {SUPPORTED_MEDIA_TYPES}"
    )


def response_media_type(content_type: str | None) -> str:
    """The Content-Type to answer with: the request's, or JSON when the request's is unsupported."""
    try:
        return media_type(content_type)
    except UnsupportedMediaType:
        return JSON


def decode_request(body: bytes, content_type: str, window: TimeWindow = STORABLE) -> DecodedBatch:
    """The spans of a request; those with a time outside `window` are rejected (the endpoint passes
    the configured one; the default accepts whatever can be stored)."""
    if media_type(content_type) == PROTOBUF:
        return _decode_protobuf(body, window)
    return decode_json(body, window)


def rejection_message(reasons: Sequence[str]) -> str:
    """The partial_success error_message: how many spans were rejected and the first problem. Reasons
    come from decoding (Rejection.reason) and from staging (traces.ingest.rows)."""
    if not reasons:
        return ""
    count = len(reasons)
    return f"{count} span{'s' if count != 1 else ''} rejected; first: {reasons[0]}"


# --- protobuf -----------------------------------------------------------------------------------


def _pb_value(value: Any, depth: int = 1) -> Any:
    # One WhichOneof per value, most frequent kinds first: this runs for every attribute of every span.
    # `depth` counts array and kvlist levels; only those two branches look at it.
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        return value.double_value
    if which == "array_value":
        if depth > MAX_VALUE_DEPTH:
            return TOO_DEEP
        return [_pb_value(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        if depth > MAX_VALUE_DEPTH:
            return TOO_DEEP
        return {kv.key: _pb_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value
    return None  # empty, or string_value_strindex (profiles only, meaningless without their table)


def _pb_attributes(key_values: Iterable[Any]) -> Attributes:
    # Strings, most attributes, are read here without a call of _pb_value each.
    return {
        kv.key: value.string_value if (value := kv.value).WhichOneof("value") == "string_value" else _pb_value(value)
        for kv in key_values
    }


def _decode_protobuf(body: bytes, window: TimeWindow) -> DecodedBatch:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (ProtobufDecodeError, ValueError) as exc:
        wrong_signal = signals.protobuf_rejections(body)
        if wrong_signal is not None:
            return DecodedBatch(spans=[], rejections=wrong_signal)
        batch = _decode_protobuf_pieces(body, window)
        if batch is None:
            raise DecodeError(f"body is not a valid OTLP ExportTraceServiceRequest protobuf: {exc}") from exc
        return batch
    batch = DecodedBatch(spans=[], rejections=[])
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            _add_spans(batch, scope_spans.spans, resource, scope_spans.scope, window)
    if batch.rejections and not batch.spans:  # a logs or metrics export reads as spans without ids: say so
        wrong_signal = signals.protobuf_rejections(body)
        if wrong_signal is not None:
            return DecodedBatch(spans=[], rejections=wrong_signal)
    return batch


def _add_spans(batch: DecodedBatch, pbs: Iterable[Any], resource: Attributes, scope: Any, window: TimeWindow) -> None:
    scope_name, scope_version = scope.name, scope.version
    spans, rejections = batch.spans, batch.rejections
    for pb in pbs:
        index = len(spans) + len(rejections)  # position in the request, across resource and scope spans
        span = _pb_span(pb, resource, scope_name, scope_version, window)
        if isinstance(span, Span):
            spans.append(span)
        else:
            rejections.append(Rejection(index=index, reason=f"span {index}: {span}"))


def _reject(batch: DecodedBatch, count: int, problem: str) -> None:
    for _ in range(count):
        index = len(batch.spans) + len(batch.rejections)
        batch.rejections.append(Rejection(index=index, reason=f"span {index}: {problem}"))


# --- protobuf, piece by piece: only when the whole request does not parse ---------------------------

_UNREADABLE = "not a valid protobuf {} (a string that is not UTF-8, or nested deeper than 100 levels)"


class _WireError(Exception):
    """The bytes are not protobuf wire format at all."""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _WireError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _length_delimited(data: bytes, number: int) -> Iterator[bytes]:
    """The contents of every length-delimited field `number` of a message, skipping the other fields."""
    pos, size = 0, len(data)
    while pos < size:
        key, pos = _read_varint(data, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _read_varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length <= size and key >> 3 == number:
                yield data[pos : pos + length]
            pos += length
        else:  # groups (3, 4) are not used by OTLP
            raise _WireError(f"wire type {wire}")
        if pos > size:
            raise _WireError("field past the end of its message")


def _parsed(message: Any, data: bytes) -> Any:
    try:
        return message.FromString(data)
    except (ProtobufDecodeError, ValueError):
        return None


def _decode_protobuf_pieces(body: bytes, window: TimeWindow) -> DecodedBatch | None:
    """The request read one ResourceSpans, ScopeSpans, resource, scope and span at a time, so that what does
    not parse costs only its spans; None when the body is not protobuf wire format, or holds no spans.

    Concatenated contents of a message field parse as their merge, as protobuf merges repeated fields."""
    batch = DecodedBatch(spans=[], rejections=[])
    try:
        for resource_spans_data in _length_delimited(body, 1):
            whole = _parsed(ResourceSpans, resource_spans_data)
            if whole is not None:
                resource = _pb_attributes(whole.resource.attributes)
                for scope_spans in whole.scope_spans:
                    _add_spans(batch, scope_spans.spans, resource, scope_spans.scope, window)
                continue
            pb_resource = _parsed(Resource, b"".join(_length_delimited(resource_spans_data, 1)))
            for scope_spans_data in _length_delimited(resource_spans_data, 2):
                if pb_resource is None:
                    _reject(
                        batch, sum(1 for _ in _length_delimited(scope_spans_data, 2)), _UNREADABLE.format("Resource")
                    )
                    continue
                resource = _pb_attributes(pb_resource.attributes)
                scope = _parsed(InstrumentationScope, b"".join(_length_delimited(scope_spans_data, 1)))
                for span_data in _length_delimited(scope_spans_data, 2):
                    pb = None if scope is None else _parsed(PbSpan, span_data)
                    if pb is None:
                        _reject(batch, 1, _UNREADABLE.format("InstrumentationScope" if scope is None else "Span"))
                    else:
                        _add_spans(batch, (pb,), resource, scope, window)
    except _WireError:
        return None
    return batch if batch.spans or batch.rejections else None


def _pb_span(pb: Any, resource: Attributes, scope_name: str, scope_version: str, window: TimeWindow) -> Span | str:
    """The decoded span, or what is wrong with it."""
    # Each field read builds a new Python object from the protobuf: read once, for the checks and the span.
    trace_id, span_id, parent, name = pb.trace_id, pb.span_id, pb.parent_span_id, pb.name
    start, end = pb.start_time_unix_nano, pb.end_time_unix_nano
    problem = span_problem(trace_id, span_id, parent, name, start, end, window)
    if problem:
        return problem
    links = tuple(
        SpanLink(trace_id=ln.trace_id, span_id=ln.span_id, attributes=_pb_attributes(ln.attributes)) for ln in pb.links
    )
    problem = links_problem(links)
    if problem:
        return problem
    kind, status = pb.kind, pb.status
    code = status.code
    # Positional, in Span's field order, each line naming its field (as normalize builds a Step: keyword
    # arguments are matched one by one against the parameter names, for every span of every batch).
    return Span(
        trace_id,  # trace_id
        span_id,  # span_id
        parent_or_none(parent),  # parent_span_id
        name,  # name
        # Enum values newer than this decoder are kept as "unspecified" rather than losing the span.
        kind if 0 <= kind <= 5 else 0,  # kind
        start,  # start_time_unix_nano
        end,  # end_time_unix_nano
        code if 0 <= code <= 2 else 0,  # status_code
        status.message,  # status_message
        _pb_attributes(pb.attributes),  # attributes
        tuple(  # events
            SpanEvent(ev.name, ev.time_unix_nano, _pb_attributes(ev.attributes)) for ev in pb.events
        ),
        links,  # links
        resource,  # resource
        scope_name,  # scope_name
        scope_version,  # scope_version
    )


# --- responses ----------------------------------------------------------------------------------


def encode_response(rejected: int, message: str, content_type: str | None) -> bytes:
    """An ExportTraceServiceResponse; partial_success is left unset on full success, as the spec asks."""
    partial = rejected > 0 or bool(message)
    if response_media_type(content_type) == JSON:
        if not partial:
            return b"{}"
        # int64 as a decimal string, as proto3 JSON writes it.
        body = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}}
        return json.dumps(body, ensure_ascii=False).encode()
    if not partial:
        return b""
    response = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
    )
    return response.SerializeToString()


def _varint(number: int) -> bytes:
    number &= (1 << 64) - 1  # negative int32 is written as its 64-bit two's complement
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def encode_status(code: int, message: str, content_type: str | None) -> bytes:
    """A google.rpc.Status {code, message} body for a failed request.

    opentelemetry-proto does not ship google.rpc.Status, and defining it in the default descriptor pool
    would clash with googleapis-common-protos when both are loaded; two fields are simpler by hand:
    code is field 1 (varint), message field 2 (length-delimited). Zero values are omitted (proto3).
    """
    if response_media_type(content_type) == JSON:
        return json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
    out = b""
    if code:
        out += b"\x08" + _varint(code)
    if message:
        text = message.encode()
        out += b"\x12" + _varint(len(text)) + text
    return out
