"""Fuzzing POST /v1/traces (protobuf and JSON decoders, then normalize, stage and store): every input
answers 200, 400, 413 or 415, never 5xx, and a valid span sent beside a hostile one is stored.

- the corpus (tests/fixtures/fuzz): each file answers as its folder says;
- the corpus mutated: flipped, cut and spliced bytes;
- hypothesis-built requests: a valid span beside a span of random ids, times, name bytes (UTF-8 or not)
  and attributes of any kind, nested up to 600 levels.
Derandomized with bounded examples: the same few seconds, and the same inputs, on every run.
"""

from __future__ import annotations

import itertools
import json
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.fuzz.make_corpus import CORPUS_TIME
from tests.traces.conftest import JSON, PROTOBUF, IngestSetup
from tests.traces.ingest.hostile import GOOD_SPAN_HEX, NS, json_batch, json_span, pb_span
from tests.traces.test_otlp_endpoint import post
from traces.models import Step

pytestmark = pytest.mark.django_db

FUZZ = Path(__file__).parents[1] / "fixtures" / "fuzz"
CORPUS = sorted(path for path in FUZZ.rglob("*") if path.suffix in (".bin", ".json"))
ANSWERS = {200, 400, 413, 415}
FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
_span_ids = itertools.count(0x0100_0000_0000_0001)


def media(path: Path) -> str:
    return JSON if path.suffix == ".json" else PROTOBUF


def stored(setup: IngestSetup, span_hex: str) -> bool:
    span_id = int.from_bytes(bytes.fromhex(span_hex), "big", signed=True)
    return Step.objects.filter(project=setup.project, span_id=span_id).exists()


@pytest.fixture
def corpus_window(settings: Any) -> None:
    """The corpus' valid spans start at CORPUS_TIME: the window reaches back to it (and not to 1970)."""
    days = (datetime.now(UTC) - datetime.fromtimestamp(CORPUS_TIME // NS, UTC)).days
    settings.INGEST_MAX_SPAN_AGE_DAYS = max(365, days + 30)


def test_the_corpus_has_both_encodings_and_both_outcomes() -> None:
    assert {path.suffix for path in CORPUS} == {".bin", ".json"}
    assert {path.parent.name for path in CORPUS} == {"kept", "refused"}
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS])
def test_every_corpus_file_answers_as_its_folder_says(
    client: Client, ingest: IngestSetup, corpus_window: None, path: Path
) -> None:
    response = post(client, path.read_bytes(), key=ingest.key, content_type=media(path))
    if path.parent.name == "kept":
        assert response.status_code == 200, response.content[:300]
        assert stored(ingest, GOOD_SPAN_HEX)
    else:
        assert response.status_code == 400, response.content[:300]
        assert b"nested too deeply" in response.content


# --- mutations of the corpus ----------------------------------------------------------------------

_MUTATION = st.tuples(
    st.sampled_from(["flip", "cut", "insert", "repeat"]), st.floats(0, 1), st.binary(min_size=1, max_size=8)
)


def mutate(body: bytes, mutations: list[tuple[str, float, bytes]]) -> bytes:
    for kind, where, data in mutations:
        at = int(where * len(body))
        if kind == "flip" and body:
            at = min(at, len(body) - 1)
            body = body[:at] + bytes([body[at] ^ data[0]]) + body[at + 1 :]
        elif kind == "cut":
            body = body[:at]
        elif kind == "insert":
            body = body[:at] + data + body[at:]
        else:
            body = body[:at] + body[at : at + 64] * 3 + body[at + 64 :]
    return body


@FUZZ_SETTINGS
@given(path=st.sampled_from(CORPUS), mutations=st.lists(_MUTATION, min_size=1, max_size=4))
def test_a_mutated_corpus_file_never_answers_5xx(
    client: Client, ingest: IngestSetup, path: Path, mutations: list[tuple[str, float, bytes]]
) -> None:
    response = post(client, mutate(path.read_bytes(), mutations), key=ingest.key, content_type=media(path))
    assert response.status_code in ANSWERS, (response.status_code, response.content[:300])


# --- protobuf requests built by hypothesis, on the wire ----------------------------------------------


def _varint(number: int) -> bytes:
    number &= (1 << 64) - 1
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _fixed64(number: int, value: int) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<Q", value)


_LEAF = st.one_of(
    st.binary(max_size=12).map(lambda b: _ld(1, b)),  # string_value: any bytes, UTF-8 or not
    st.booleans().map(lambda v: _varint(2 << 3) + _varint(int(v))),
    st.integers(-(1 << 63), (1 << 63) - 1).map(lambda v: _varint(3 << 3) + _varint(v)),
    st.floats(allow_nan=True).map(lambda v: _varint(4 << 3 | 1) + struct.pack("<d", v)),
    st.binary(max_size=12).map(lambda b: _ld(7, b)),
    st.just(b""),  # the empty AnyValue
)
_ANY_VALUE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: _ld(5, b"".join(_ld(1, item) for item in items))),
        st.lists(st.tuples(st.binary(max_size=6), inner), max_size=3).map(
            lambda kvs: _ld(6, b"".join(_ld(1, _ld(1, key) + _ld(2, value)) for key, value in kvs))
        ),
    ),
    max_leaves=12,
)


@st.composite
def deep_value(draw: st.DrawFn) -> bytes:
    value = draw(_ANY_VALUE)
    for kind in draw(st.lists(st.sampled_from([5, 6]), max_size=600)):
        value = _ld(5, _ld(1, value)) if kind == 5 else _ld(6, _ld(1, _ld(1, b"k") + _ld(2, value)))
    return value


_NOW = time.time_ns()
_TIME = st.one_of(
    st.just(0),
    st.integers(0, (1 << 64) - 1),
    st.integers(_NOW - 400 * 86400 * NS, _NOW + 2 * 86400 * NS),
)


@st.composite
def hostile_pb_span(draw: st.DrawFn) -> bytes:
    trace_id = draw(st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20)))
    span_id = draw(st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10)))
    out = _ld(1, trace_id) + _ld(2, span_id) + _ld(5, draw(st.binary(max_size=16)))
    out += _varint(6 << 3) + _varint(draw(st.integers(-5, 9)))  # kind
    out += _fixed64(7, draw(_TIME)) + _fixed64(8, draw(_TIME))
    for key, value in draw(st.lists(st.tuples(st.binary(max_size=8), deep_value()), max_size=3)):
        out += _ld(9, _ld(1, key) + _ld(2, value))
    return out


@FUZZ_SETTINGS
@given(hostile=hostile_pb_span())
def test_a_hostile_protobuf_span_never_costs_its_valid_sibling(
    client: Client, ingest: IngestSetup, hostile: bytes
) -> None:
    good_hex = f"{next(_span_ids):016x}"
    good = pb_span(good_hex).SerializeToString()
    body = _ld(1, _ld(2, _ld(2, good) + _ld(2, hostile)))
    response = post(client, body, key=ingest.key)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    assert stored(ingest, good_hex)


# --- JSON requests built by hypothesis ------------------------------------------------------------

_JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(allow_nan=False), st.text(max_size=12)
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)
_JSON_VALUE_KEYS = ["stringValue", "intValue", "boolValue", "doubleValue", "bytesValue", "arrayValue", "kvlistValue"]


@st.composite
def json_any_value(draw: st.DrawFn) -> str:
    leaf = json.dumps({draw(st.sampled_from(_JSON_VALUE_KEYS)): draw(_JSON)})
    for kind in draw(st.lists(st.sampled_from(["a", "k"]), max_size=200)):
        if kind == "a":
            leaf = '{"arrayValue":{"values":[' + leaf + "]}}"
        else:
            leaf = '{"kvlistValue":{"values":[{"key":"k","value":' + leaf + "}]}}"
    return leaf


@st.composite
def hostile_json_span(draw: st.DrawFn) -> str:
    fields = {
        "traceId": draw(st.one_of(st.just("5b8efff798038103d269b633813fc60c"), st.text(max_size=34))),
        "spanId": draw(st.one_of(st.just("00000000000000b2"), st.text(max_size=18))),
        "name": draw(_JSON),
        "kind": draw(_JSON),
        "startTimeUnixNano": draw(st.one_of(_TIME.map(str), _TIME, _JSON)),
        "endTimeUnixNano": draw(st.one_of(_TIME.map(str), _JSON)),
        "status": draw(_JSON),
    }
    attributes = [
        f'{{"key": {json.dumps(key)}, "value": {value}}}'
        for key, value in draw(st.lists(st.tuples(st.text(max_size=8), json_any_value()), max_size=3))
    ]
    text = json.dumps({k: v for k, v in fields.items() if draw(st.booleans())})
    return text[:-1] + (", " if len(text) > 2 else "") + f'"attributes": [{", ".join(attributes)}]}}'


@FUZZ_SETTINGS
@given(hostile=hostile_json_span())
def test_a_hostile_json_span_never_costs_its_valid_sibling(client: Client, ingest: IngestSetup, hostile: str) -> None:
    good_hex = f"{next(_span_ids):016x}"
    response = post(client, json_batch(json_span(good_hex), hostile), key=ingest.key, content_type=JSON)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    assert stored(ingest, good_hex)
