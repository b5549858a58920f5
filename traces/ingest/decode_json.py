"""Decoding an OTLP/JSON trace export request into `Span`s.

Walked by hand rather than with `google.protobuf.json_format`: OTLP/JSON writes trace and span ids in
hex where proto3 JSON expects base64, and json_format silently turns a 32-character hex traceId into 24
bytes. Accepted as senders write it in the wild: camelCase and snake_case keys, 64-bit integers as
strings or numbers, enums as integers or names; unknown fields are ignored and omitted fields take their
defaults (no kind = 0, no status = UNSET, no parentSpanId = root).

A body that is not a JSON object, or whose structure above the spans is broken, raises `DecodeError`
(400), as does one nested deeper than the JSON parser reads (1,024 levels: no parser keeps siblings it
cannot read past). Anything wrong inside one span (or its resource or scope) rejects
that span only; attribute values nested deeper than MAX_VALUE_DEPTH are cut there (traces.ingest.spans).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

import orjson

from traces.ingest import signals
from traces.ingest.errors import DecodeError
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

_SPAN_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_UINT64 = 1 << 64
_INT64 = 1 << 63
_DECIMAL = re.compile(r"-?[0-9]+")


class _Invalid(ValueError):
    """A problem with one span of a JSON request; becomes its Rejection."""


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(obj: dict[str, Any], camel: str, snake: str) -> list[Any]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid(f"{camel} must be an array, got {type(value).__name__}")
    return value


def _object(obj: dict[str, Any], camel: str, snake: str) -> dict[str, Any]:
    value = _get(obj, camel, snake)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"{camel} must be an object, got {type(value).__name__}")
    return value


def _string(obj: dict[str, Any], camel: str, snake: str) -> str:
    value = _get(obj, camel, snake)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(f"{camel} must be a string, got {type(value).__name__}")
    return value


def _hex_id(obj: dict[str, Any], camel: str, snake: str) -> bytes:
    value = _get(obj, camel, snake)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _Invalid(f"{camel} must be a hex string, got {type(value).__name__}")
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise _Invalid(f"{camel} is not hex: {value[:48]!r}") from None


def _integer(value: Any, what: str, low: int, high: int) -> int:
    # proto3 JSON writes 64-bit integers as decimal strings; many senders write plain numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, str) and _DECIMAL.fullmatch(value)) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    else:
        raise _Invalid(f"{what} must be an integer, got {value!r:.48}")
    if not low <= number < high:
        raise _Invalid(f"{what} is out of range: {number}")
    return number


def _time(obj: dict[str, Any], camel: str, snake: str) -> int:
    value = _get(obj, camel, snake)
    return 0 if value is None else _integer(value, camel, 0, _UINT64)


def _enum(value: Any, names: dict[str, int], what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value in names:
        return names[value]
    number = _integer(value, what, -_INT64, _INT64)
    return number if number in names.values() else 0


def _double(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # also "NaN", "Infinity", "-Infinity" as proto3 JSON writes them
        except ValueError:
            pass
    raise _Invalid(f"doubleValue must be a number, got {value!r:.48}")


def _string_value(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"stringValue must be a string, got {type(value).__name__}")
    return value


def _bool_value(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"boolValue must be true or false, got {value!r:.48}")
    return value


def _bytes_value(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _Invalid(f"bytesValue must be a base64 string, got {type(value).__name__}")
    # proto3 JSON accepts standard and URL-safe base64, with or without padding.
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise _Invalid(f"bytesValue is not base64: {value[:48]!r}") from None


def _array_value(value: Any, depth: int) -> list[Any]:
    if not isinstance(value, dict):
        raise _Invalid("arrayValue must be an object with values")
    return [_json_value(item, depth + 1) for item in _list(value, "values", "values")]


def _kvlist_value(value: Any, depth: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid("kvlistValue must be an object with values")
    return _json_attributes(_list(value, "values", "values"), depth + 1)


_INT_VALUE = lambda value: _integer(value, "intValue", -_INT64, _INT64)  # noqa: E731
_VALUE_KINDS: dict[str, Callable[[Any], Any]] = {
    "stringValue": _string_value,
    "string_value": _string_value,
    "intValue": _INT_VALUE,
    "int_value": _INT_VALUE,
    "boolValue": _bool_value,
    "bool_value": _bool_value,
    "doubleValue": _double,
    "double_value": _double,
    "bytesValue": _bytes_value,
    "bytes_value": _bytes_value,
}
# The kinds that nest, apart: they take the depth, which bounds them (MAX_VALUE_DEPTH).
_NESTED_KINDS: dict[str, Callable[[Any, int], Any]] = {
    "arrayValue": _array_value,
    "array_value": _array_value,
    "kvlistValue": _kvlist_value,
    "kvlist_value": _kvlist_value,
}


def _json_value(value: Any, depth: int = 1) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Invalid(f"an AnyValue must be an object, got {type(value).__name__}")
    for kind, item in value.items():
        if item is None:
            continue
        convert = _VALUE_KINDS.get(kind)
        if convert is not None:
            return convert(item)
        nested = _NESTED_KINDS.get(kind)
        if nested is not None:
            return TOO_DEEP if depth > MAX_VALUE_DEPTH else nested(item, depth)
    return None  # {} is the empty value; unknown kinds are ignored


def _json_attributes(key_values: list[Any], depth: int = 1) -> Attributes:
    attributes: Attributes = {}
    for kv in key_values:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise _Invalid(f"an attribute must be an object with a string key, got {kv!r:.48}")
        try:
            attributes[kv["key"]] = _json_value(kv.get("value"), depth)
        except _Invalid as exc:
            raise _Invalid(f"attribute {kv['key']!r}: {exc}") from None
    return attributes


def _json_link(obj: Any) -> SpanLink:
    if not isinstance(obj, dict):
        raise _Invalid("must be an object")
    return SpanLink(
        trace_id=_hex_id(obj, "traceId", "trace_id"),
        span_id=_hex_id(obj, "spanId", "span_id"),
        attributes=_json_attributes(_list(obj, "attributes", "attributes")),
    )


def _json_event(obj: Any) -> SpanEvent:
    if not isinstance(obj, dict):
        raise _Invalid("an event must be an object")
    return SpanEvent(
        name=_string(obj, "name", "name"),
        time_unix_nano=_time(obj, "timeUnixNano", "time_unix_nano"),
        attributes=_json_attributes(_list(obj, "attributes", "attributes")),
    )


def _json_span(obj: Any, resource: Attributes, scope_name: str, scope_version: str, window: TimeWindow) -> Span:
    if not isinstance(obj, dict):
        raise _Invalid(f"must be an object, got {type(obj).__name__}")
    trace_id = _hex_id(obj, "traceId", "trace_id")
    span_id = _hex_id(obj, "spanId", "span_id")
    parent_span_id = _hex_id(obj, "parentSpanId", "parent_span_id")
    name = _string(obj, "name", "name")
    start = _time(obj, "startTimeUnixNano", "start_time_unix_nano")
    end = _time(obj, "endTimeUnixNano", "end_time_unix_nano")
    problem = span_problem(trace_id, span_id, parent_span_id, name, start, end, window)
    if problem:
        raise _Invalid(problem)
    links = []
    for position, item in enumerate(_list(obj, "links", "links")):
        try:
            links.append(_json_link(item))
        except _Invalid as exc:
            raise _Invalid(f"link {position}: {exc}") from None
    link_tuple = tuple(links)
    problem = links_problem(link_tuple)
    if problem:
        raise _Invalid(problem)
    status = _object(obj, "status", "status")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_or_none(parent_span_id),
        name=name,
        kind=_enum(obj.get("kind"), _SPAN_KINDS, "kind"),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status_code=_enum(status.get("code"), _STATUS_CODES, "status.code"),
        status_message=_string(status, "message", "message"),
        attributes=_json_attributes(_list(obj, "attributes", "attributes")),
        events=tuple(_json_event(item) for item in _list(obj, "events", "events")),
        links=link_tuple,
        resource=resource,
        scope_name=scope_name,
        scope_version=scope_version,
    )


# JSON may escape half of a UTF-16 pair ("\ud800"); json.loads keeps it as a lone surrogate, which no
# UTF-8 text (nor Postgres) can hold. Such halves become U+FFFD, as NUL is dropped later: the span stays.
_LONE_SURROGATE_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F]"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(node: Any) -> Any:
    if isinstance(node, str):
        return _LONE_SURROGATE.sub("\ufffd", node)
    if isinstance(node, list):
        return [_without_lone_surrogates(item) for item in node]
    if isinstance(node, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in node.items()}
    return node


def decode_json(body: bytes, window: TimeWindow = STORABLE) -> DecodedBatch:
    try:
        try:
            # orjson first: several times faster, and it stops nesting at 1,024 levels whatever the call
            # stack, where json's limit is Python's recursion limit less the frames already on the stack
            # (a body of 900 levels parsed in one process and not under Django's test client).
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            # What orjson refuses beyond the standard (NaN, integers past 64 bits, lone surrogates,
            # UTF-16) json reads; past 1,024 levels json cannot either (RecursionError below).
            document = json.loads(body)
        if _LONE_SURROGATE_ESCAPE.search(body):  # rare: a scan of the body decides whether to walk it
            document = _without_lone_surrogates(document)
    except ValueError as exc:  # includes bad UTF-8
        raise DecodeError(f"body is not valid JSON: {exc}") from exc
    except RecursionError:
        # json (and orjson, at 1024) read nesting recursively: past its limit nothing of the body can be
        # read, so the request is refused whole, with a reason, rather than failing the server.
        raise DecodeError("body is not readable JSON: nested too deeply (over 1,024 levels)") from None
    if not isinstance(document, dict):
        raise DecodeError(f"an OTLP/JSON body must be an object, got {type(document).__name__}")
    spans: list[Span] = []
    rejections: list[Rejection] = []
    index = 0
    try:
        resource_spans_list = _list(document, "resourceSpans", "resource_spans")
    except _Invalid as exc:
        raise DecodeError(str(exc)) from None
    if not resource_spans_list:
        wrong_signal = signals.json_rejections(document)
        if wrong_signal is not None:
            return DecodedBatch(spans=[], rejections=wrong_signal)
    for r_position, resource_spans in enumerate(resource_spans_list):
        where = f"resourceSpans[{r_position}]"
        # A malformed resource or scope costs its spans (rejected below), not the whole request.
        context_problem = None
        resource: Attributes = {}
        scope_spans_list: list[Any] = []
        try:
            if not isinstance(resource_spans, dict):
                raise DecodeError(f"{where} must be an object")
            scope_spans_list = _list(resource_spans, "scopeSpans", "scope_spans")
            resource = _json_attributes(
                _list(_object(resource_spans, "resource", "resource"), "attributes", "attributes")
            )
        except _Invalid as exc:
            context_problem = f"resource: {exc}"
        for s_position, scope_spans in enumerate(scope_spans_list):
            if not isinstance(scope_spans, dict):
                raise DecodeError(f"{where}.scopeSpans[{s_position}] must be an object")
            try:
                span_list = _list(scope_spans, "spans", "spans")
            except _Invalid as exc:
                raise DecodeError(f"{where}.scopeSpans[{s_position}]: {exc}") from None
            scope_problem = context_problem
            scope_name = scope_version = ""
            try:
                scope = _object(scope_spans, "scope", "scope")
                scope_name, scope_version = _string(scope, "name", "name"), _string(scope, "version", "version")
            except _Invalid as exc:
                scope_problem = scope_problem or f"scope: {exc}"
            for item in span_list:
                try:
                    if scope_problem:
                        raise _Invalid(scope_problem)
                    spans.append(_json_span(item, resource, scope_name, scope_version, window))
                except _Invalid as exc:
                    rejections.append(Rejection(index=index, reason=f"span {index}: {exc}"))
                index += 1
    return DecodedBatch(spans=spans, rejections=rejections)
