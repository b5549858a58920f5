"""traces.ingest.decode on hostile requests: far-off times, deep nesting, invalid UTF-8. One bad span is
rejected (or its over-deep value cut) and its valid sibling kept; nothing raises but DecodeError."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from tests.traces.ingest.hostile import (
    BAD_SPAN_HEX,
    GOOD_SPAN_HEX,
    NS,
    array,
    json_array,
    json_batch,
    json_kvlist,
    json_span,
    json_with_bad_attribute,
    kvlist,
    now_ns,
    pb_batch,
    pb_span,
    pb_with_bad_utf8_name,
    pb_with_deep,
)
from traces.ingest.decode import decode_request
from traces.ingest.errors import DecodeError
from traces.ingest.spans import MAX_VALUE_DEPTH, TOO_DEEP, DecodedBatch
from traces.ingest.validate import TimeWindow

PB = "application/x-protobuf"
JS = "application/json"
DAY = 86400


def window() -> TimeWindow:
    return TimeWindow.around(now_ns(), 365 * DAY, DAY, "the settings")


def kept_and_rejected(batch: DecodedBatch) -> tuple[list[str], list[str]]:
    return [span.span_id.hex() for span in batch.spans], [r.reason for r in batch.rejections]


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


def innermost(value: object) -> object:
    while isinstance(value, (dict, list)):
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return value


# --- times ----------------------------------------------------------------------------------------

FAR = {
    "epoch + 1 ns": (1, None),
    "2^63 - 100": ((1 << 63) - 100, None),
    "2^64 - 1": ((1 << 64) - 1, None),
    "two years ago": (now_ns() - 2 * 365 * DAY * NS, None),
    "two days ahead": (now_ns() + 2 * DAY * NS, None),
    "end 2^64 - 1": (None, (1 << 64) - 1),
    "end two days ahead": (None, now_ns() + 2 * DAY * NS),
}


@pytest.mark.parametrize("encoding", [PB, JS])
@pytest.mark.parametrize(("start", "end"), FAR.values(), ids=FAR.keys())
def test_a_time_outside_the_window_rejects_its_span_alone(encoding: str, start: int | None, end: int | None) -> None:
    if encoding == PB:
        body = pb_batch(pb_span(GOOD_SPAN_HEX), pb_span(BAD_SPAN_HEX, start=start, end=end))
    else:
        body = json_batch(json_span(GOOD_SPAN_HEX), json_span(BAD_SPAN_HEX, start=start, end=end))
    kept, rejected = kept_and_rejected(decode_request(body, encoding, window()))
    assert kept == [GOOD_SPAN_HEX]
    assert len(rejected) == 1 and "outside the accepted window" in rejected[0], rejected
    assert "the settings" in rejected[0] and "check the sender's clock" in rejected[0]


def test_an_end_before_its_start_is_still_rejected() -> None:
    start = now_ns()
    body = pb_batch(pb_span(GOOD_SPAN_HEX), pb_span(BAD_SPAN_HEX, start=start, end=start - 1))
    kept, rejected = kept_and_rejected(decode_request(body, PB, window()))
    assert kept == [GOOD_SPAN_HEX] and "is before startTimeUnixNano" in rejected[0]


def test_without_a_window_whatever_can_be_stored_is_accepted() -> None:
    body = pb_batch(pb_span(GOOD_SPAN_HEX, start=1), pb_span(BAD_SPAN_HEX, start=1 << 63))
    kept, rejected = kept_and_rejected(decode_request(body, PB))
    assert kept == [GOOD_SPAN_HEX] and "outside the accepted window" in rejected[0]


# --- invalid UTF-8 (protobuf) ---------------------------------------------------------------------


def test_a_span_name_that_is_not_utf8_rejects_that_span_alone() -> None:
    kept, rejected = kept_and_rejected(decode_request(pb_with_bad_utf8_name(), PB, window()))
    assert kept == [GOOD_SPAN_HEX]
    assert rejected == [
        "span 1: not a valid protobuf Span (a string that is not UTF-8, or nested deeper than 100 levels)"
    ]


def test_a_resource_that_is_not_utf8_rejects_its_spans_and_keeps_the_other_resources() -> None:
    good = pb_batch(pb_span(GOOD_SPAN_HEX))
    marker = b"service-XY"
    bad_resource = ResourceSpans(
        resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=marker.decode()))]),
        scope_spans=[ScopeSpans(spans=[pb_span(BAD_SPAN_HEX), pb_span("00000000000000c3")])],
    )
    bad = (
        ExportTraceServiceRequest(resource_spans=[bad_resource])
        .SerializeToString()
        .replace(marker, b"service\xff\xff\xff")
    )
    kept, rejected = kept_and_rejected(decode_request(good + bad, PB, window()))  # concatenation = merge
    assert kept == [GOOD_SPAN_HEX]
    assert [r.split(":")[0] for r in rejected] == ["span 1", "span 2"]
    assert "not a valid protobuf Resource" in rejected[0]


def test_a_body_that_is_not_protobuf_is_still_refused_whole() -> None:
    for body in (b"\xff\xff\xff", b"\x0a\x05abc", b"not protobuf at all \x00\x01"):
        with pytest.raises(DecodeError):
            decode_request(body, PB, window())


# --- nesting --------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [kvlist, array])
def test_an_attribute_nested_to_the_limit_is_kept_whole(build: object) -> None:
    batch = decode_request(pb_with_deep(build(MAX_VALUE_DEPTH)), PB, window())  # type: ignore[operator]
    assert kept_and_rejected(batch) == ([GOOD_SPAN_HEX, BAD_SPAN_HEX], [])
    value = batch.spans[1].attributes["deep"]
    assert depth_of(value) == MAX_VALUE_DEPTH and innermost(value) == "bottom"


@pytest.mark.parametrize(("build", "depth"), [(array, MAX_VALUE_DEPTH + 1), (array, 48), (array, 49)])
def test_protobuf_nesting_past_the_limit_is_cut_and_the_span_kept(build: object, depth: int) -> None:
    # Whole, these requests pass the protobuf parser's 100 levels: each span is then parsed alone, and
    # an array (2 messages a level) fits its 100 levels up to 49 deep, a kvlist (3) up to 32.
    batch = decode_request(pb_with_deep(build(depth)), PB, window())  # type: ignore[operator]
    assert kept_and_rejected(batch) == ([GOOD_SPAN_HEX, BAD_SPAN_HEX], [])
    value = batch.spans[1].attributes["deep"]
    assert depth_of(value) == MAX_VALUE_DEPTH and innermost(value) == TOO_DEEP


@pytest.mark.parametrize(("build", "depth"), [(kvlist, 33), (kvlist, 500), (array, 50), (array, 300)])
def test_protobuf_nesting_past_the_parser_rejects_that_span_alone(build: object, depth: int) -> None:
    kept, rejected = kept_and_rejected(decode_request(pb_with_deep(build(depth)), PB, window()))  # type: ignore[operator]
    assert kept == [GOOD_SPAN_HEX] and "not a valid protobuf Span" in rejected[0]


@pytest.mark.parametrize(
    ("build", "depth"), [(json_kvlist, 33), (json_kvlist, 200), (json_array, 48), (json_array, 300)]
)
def test_json_nesting_past_the_limit_is_cut_and_the_span_kept(build: object, depth: int) -> None:
    batch = decode_request(json_with_bad_attribute(build(depth)), JS, window())  # type: ignore[operator]
    assert kept_and_rejected(batch) == ([GOOD_SPAN_HEX, BAD_SPAN_HEX], [])
    value = batch.spans[1].attributes["deep"]
    assert depth_of(value) == MAX_VALUE_DEPTH and innermost(value) == TOO_DEEP


@pytest.mark.parametrize("body", [b"[" * 1100 + b"]" * 1100, b'{"a":' * 5000 + b"1" + b"}" * 5000])
def test_a_json_body_nested_past_the_parser_is_refused_whole_with_a_reason(body: bytes) -> None:
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode_request(body, JS, window())


def test_a_json_kvlist_nested_past_the_parser_is_refused_whole_with_a_reason() -> None:
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode_request(json_with_bad_attribute(json_kvlist(500)), JS, window())


def test_a_deep_json_body_with_a_lone_surrogate_is_refused_with_a_reason() -> None:
    body = b'{"x":' + b"[" * 800 + b'"\\ud800"' + b"]" * 800 + b', "resourceSpans": []}'
    try:
        decode_request(body, JS, window())
    except DecodeError as exc:
        assert "nested too deeply" in exc.message
