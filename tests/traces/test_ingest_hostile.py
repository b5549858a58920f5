"""POST /v1/traces with hostile batches: a far-off time, deep nesting, invalid UTF-8. Each answers 200
with the bad span rejected through partial success (or its over-deep value cut), its valid sibling
stored, no partition created for the far-off month; or 400 with a reason, never 5xx."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import Client

from tests.traces.conftest import JSON, PROTOBUF, IngestSetup
from tests.traces.ingest.hostile import (
    BAD_SPAN_HEX,
    BRACKETS,
    DEEPEST_PARSED,
    GOOD_SPAN_HEX,
    JSON_TEXT_KEYS,
    array,
    json_batch,
    json_kvlist,
    json_span,
    json_with_bad_attribute,
    json_with_string,
    kvlist,
    now_ns,
    pb_batch,
    pb_span,
    pb_with_bad_utf8_name,
    pb_with_deep,
)
from tests.traces.test_otlp_endpoint import partial_success, post, rpc_status
from traces.ingest.spans import TOO_DEEP
from traces.models import Step

pytestmark = pytest.mark.django_db


def partitions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'traces_step'::regclass")
        return int(cursor.fetchone()[0])


def stored_span_ids(setup: IngestSetup) -> list[str]:
    ids = Step.objects.filter(project=setup.project).order_by("span_id").values_list("span_id", flat=True)
    return [(span_id & (1 << 64) - 1).to_bytes(8, "big").hex() for span_id in ids]


def stored_attributes(setup: IngestSetup, span_hex: str) -> dict[str, object]:
    span_id = int.from_bytes(bytes.fromhex(span_hex), "big", signed=True)
    return Step.objects.get(project=setup.project, span_id=span_id).attributes


FAR_STARTS = {"epoch + 1 ns": 1, "2^63 - 100": (1 << 63) - 100, "ten years ago": now_ns() - 10 * 366 * 86400 * 10**9}


@pytest.mark.parametrize("start", FAR_STARTS.values(), ids=FAR_STARTS.keys())
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_far_off_start_rejects_its_span_alone_and_creates_no_partition(
    client: Client, ingest: IngestSetup, content_type: str, start: int
) -> None:
    post(client, pb_batch(pb_span("00000000000000f0")), key=ingest.key)  # this month's partition exists
    before = partitions()
    if content_type == PROTOBUF:
        body = pb_batch(pb_span(GOOD_SPAN_HEX), pb_span(BAD_SPAN_HEX, start=start))
    else:
        body = json_batch(json_span(GOOD_SPAN_HEX), json_span(BAD_SPAN_HEX, start=start))
    began = time.perf_counter()
    response = post(client, body, key=ingest.key, content_type=content_type)
    elapsed = time.perf_counter() - began
    rejected, message = partial_success(response)
    assert rejected == 1 and "outside the accepted window" in message and "INGEST_MAX_SPAN_AGE_DAYS" in message
    assert stored_span_ids(ingest) == ["00000000000000a1", "00000000000000f0"]
    assert partitions() == before  # 683 were created for epoch + 1 ns
    assert elapsed < 2, elapsed  # 4 s for epoch + 1 ns, and 503 after 33-40 s for 2^63 - 100


def test_the_window_comes_from_the_settings(client: Client, ingest: IngestSetup, settings: object) -> None:
    settings.INGEST_MAX_SPAN_AGE_DAYS = 3650  # type: ignore[attr-defined]
    eight_years_ago = now_ns() - 8 * 366 * 86400 * 10**9
    response = post(client, pb_batch(pb_span(GOOD_SPAN_HEX, start=eight_years_ago)), key=ingest.key)
    assert partial_success(response) == (0, "")
    settings.INGEST_MAX_SPAN_AHEAD_SECONDS = 0  # type: ignore[attr-defined]
    ahead = pb_span(BAD_SPAN_HEX, start=now_ns() + 120 * 10**9)
    assert partial_success(post(client, pb_batch(ahead), key=ingest.key))[0] == 1


@pytest.mark.parametrize("text", BRACKETS, ids=["1000 [", "1000 []", "900 [0,", "600 {a:"])
@pytest.mark.parametrize("key", JSON_TEXT_KEYS)
def test_brackets_typed_by_an_end_user_are_stored_as_text(
    client: Client, ingest: IngestSetup, key: str, text: str
) -> None:
    # Answered 500 (RecursionError from json.loads in the conventions), and the batch was lost.
    response = post(client, json_with_string(key, text), key=ingest.key, content_type=JSON)
    assert partial_success(response) == (0, "")
    assert stored_span_ids(ingest) == [GOOD_SPAN_HEX, BAD_SPAN_HEX]


@pytest.mark.parametrize("text", DEEPEST_PARSED, ids=["list", "object", "message parts"])
@pytest.mark.parametrize("key", JSON_TEXT_KEYS)
def test_json_text_as_deep_as_is_parsed_is_stored(client: Client, ingest: IngestSetup, key: str, text: str) -> None:
    response = post(client, json_with_string(key, text), key=ingest.key, content_type=JSON)
    assert partial_success(response) == (0, "")
    assert stored_span_ids(ingest) == [GOOD_SPAN_HEX, BAD_SPAN_HEX]


def test_a_span_name_that_is_not_utf8_costs_that_span_only(client: Client, ingest: IngestSetup) -> None:
    # Answered 400: python protobuf refuses the whole request.
    rejected, message = partial_success(post(client, pb_with_bad_utf8_name(), key=ingest.key))
    assert rejected == 1 and "not a valid protobuf Span" in message
    assert stored_span_ids(ingest) == [GOOD_SPAN_HEX]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (pb_with_deep(kvlist(32)), PROTOBUF),
        (pb_with_deep(array(48)), PROTOBUF),
        (json_with_bad_attribute(json_kvlist(48)), JSON),
        (json_with_bad_attribute(json_kvlist(200)), JSON),
    ],
    ids=["kvlist 32 protobuf", "array 48 protobuf", "kvlist 48 json", "kvlist 200 json"],
)
def test_deep_attributes_are_kept_cut_at_the_limit(
    client: Client, ingest: IngestSetup, body: bytes, content_type: str
) -> None:
    # The protobuf ones answered 400 for the whole batch.
    assert partial_success(post(client, body, key=ingest.key, content_type=content_type)) == (0, "")
    assert stored_span_ids(ingest) == [GOOD_SPAN_HEX, BAD_SPAN_HEX]
    assert "deep" in stored_attributes(ingest, BAD_SPAN_HEX)


def test_a_value_past_the_limit_is_stored_as_the_marker(client: Client, ingest: IngestSetup) -> None:
    assert partial_success(post(client, json_with_bad_attribute(json_kvlist(40)), key=ingest.key, content_type=JSON))
    value = stored_attributes(ingest, BAD_SPAN_HEX)["deep"]
    for _ in range(32):
        assert isinstance(value, dict)
        value = value["k"]
    assert value == TOO_DEEP


@pytest.mark.parametrize(
    "body",
    [b'{"resourceSpans": ' + b"[" * 1100 + b"]" * 1100 + b"}", json_with_bad_attribute(json_kvlist(500))],
    ids=["body 1100 deep", "kvlist 500 deep"],
)
def test_json_past_the_parser_is_400_with_a_reason(client: Client, ingest: IngestSetup, body: bytes) -> None:
    # Answered 500.
    response = post(client, body, key=ingest.key, content_type=JSON)
    assert response.status_code == 400
    assert "nested too deeply" in rpc_status(response)[1]
