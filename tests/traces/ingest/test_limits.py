"""traces.ingest.limits: bounded reads and bounded decompression (gzip, deflate, identity)."""

from __future__ import annotations

import gzip
import io
import os
import tracemalloc
import zlib

import pytest
from django.core.handlers.wsgi import WSGIRequest

from traces.ingest.errors import DecodeError, LengthRequired, TooLarge, UnsupportedMediaType
from traces.ingest.limits import CHUNK_BYTES, MAX_BODY_BYTES, decompress, read_bounded, read_request_body

PAYLOAD = os.urandom(3000) + b"otlp " * 20_000


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def gzip_bomb(total: int = 1 << 30, piece: int = 1 << 20) -> bytes:
    """A valid gzip stream of `total` zero bytes, built without ever holding them: one deflate block for
    `piece` zeros, ended by a full flush (byte-aligned, no back-references), repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(piece)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(total // piece):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    final_empty_block = b"\x03\x00"
    trailer = crc.to_bytes(4, "little") + (total % (1 << 32)).to_bytes(4, "little")
    return header + block * (total // piece) + final_empty_block + trailer


def test_the_bomb_builder_makes_real_gzip() -> None:
    assert gzip.decompress(gzip_bomb(total=8 << 20)) == bytes(8 << 20)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(PAYLOAD), "gzip"),
        (gzip.compress(PAYLOAD), "GZIP"),
        (gzip.compress(PAYLOAD), "x-gzip"),
        (gzip.compress(PAYLOAD), "identity, gzip"),
        (zlib.compress(PAYLOAD), "deflate"),  # zlib-wrapped, as the spec and the Python exporter mean it
        (_raw_deflate(PAYLOAD), "deflate"),  # raw deflate, as some clients send it
        (PAYLOAD, None),
        (PAYLOAD, ""),
        (PAYLOAD, "identity"),
        (PAYLOAD, "none"),
    ],
)
def test_decompresses_every_supported_encoding(body: bytes, encoding: str | None) -> None:
    assert decompress(body, encoding, MAX_BODY_BYTES) == PAYLOAD


def test_concatenated_gzip_members_are_one_body() -> None:
    assert decompress(gzip.compress(b"first ") + gzip.compress(b"second"), "gzip") == b"first second"


def test_empty_bodies() -> None:
    assert decompress(b"", "gzip") == b""
    assert decompress(gzip.compress(b""), "gzip") == b""
    assert decompress(b"", None) == b""


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_unknown_encoding_is_415(encoding: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="supported: gzip, deflate, identity") as caught:
        decompress(b"abc", encoding)
    assert caught.value.http_status == 415


def test_limit_is_inclusive_after_decompression() -> None:
    body = gzip.compress(PAYLOAD)

    assert decompress(body, "gzip", max_bytes=len(PAYLOAD)) == PAYLOAD
    with pytest.raises(TooLarge, match=f"larger than {len(PAYLOAD) - 1} bytes after gzip decompression") as caught:
        decompress(body, "gzip", max_bytes=len(PAYLOAD) - 1)
    assert caught.value.http_status == 413


def test_identity_body_over_the_limit_is_too_large() -> None:
    assert decompress(b"x" * 10, None, max_bytes=10) == b"x" * 10
    with pytest.raises(TooLarge):
        decompress(b"x" * 11, None, max_bytes=10)


def test_compressed_body_over_the_limit_is_refused_before_inflating() -> None:
    with pytest.raises(TooLarge, match=r"larger than 100 bytes$"):
        decompress(b"\x00" * 101, "gzip", max_bytes=100)  # not even gzip: never looked at


def test_a_gzip_bomb_is_stopped_with_bounded_memory() -> None:
    bomb = gzip_bomb()  # 1 GiB of zeros in about 1 MB
    assert len(bomb) < 2 << 20

    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            decompress(bomb, "gzip", MAX_BODY_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak <= MAX_BODY_BYTES + 2 * CHUNK_BYTES + (1 << 20)


def test_a_deflate_bomb_is_stopped_too() -> None:
    compressor = zlib.compressobj(9)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(64)) + compressor.flush()

    with pytest.raises(TooLarge):
        decompress(bomb, "deflate", max_bytes=16 << 20)


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        (b"definitely not gzip", "gzip", "body is not valid gzip"),
        (gzip.compress(PAYLOAD)[:-100], "gzip", "gzip stream is truncated"),
        (gzip.compress(PAYLOAD)[:5], "gzip", "gzip stream is truncated"),
        (gzip.compress(PAYLOAD) + b"junk", "gzip", "body is not valid gzip"),
        (zlib.compress(PAYLOAD)[:-1], "deflate", "deflate stream is truncated"),
        (zlib.compress(PAYLOAD) + b"junk", "deflate", "4 bytes of trailing garbage after the deflate stream"),
        (b"\xff\xff\xff\xff", "deflate", "body is not valid deflate"),
    ],
    # Named, not derived from the bodies: a gzip header holds the time it was made, and pytest-xdist's
    # workers, collecting a second apart, would each name a case differently and refuse to run.
    ids=[
        "not-gzip",
        "gzip-cut-short",
        "gzip-header-only",
        "gzip-trailing-junk",
        "deflate-cut-short",
        "deflate-trailing-junk",
        "not-deflate",
    ],
)
def test_corrupt_streams_are_decode_errors(body: bytes, encoding: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as caught:
        decompress(body, encoding)
    assert caught.value.http_status == 400


def test_corrupt_gzip_checksum_is_a_decode_error() -> None:
    body = bytearray(gzip.compress(PAYLOAD))
    body[-8] ^= 0xFF  # the CRC32 in the trailer

    with pytest.raises(DecodeError, match="not valid gzip"):
        decompress(bytes(body), "gzip")


class _CountingStream(io.RawIOBase):
    """An endless stream that counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        assert size >= 0, "an unbounded read of a request body"
        self.read_bytes += size
        return b"a" * size


def test_read_bounded_returns_a_body_up_to_the_limit() -> None:
    assert read_bounded(io.BytesIO(b"x" * 1000), max_bytes=1000) == b"x" * 1000
    assert read_bounded(io.BytesIO(b""), max_bytes=10) == b""


def test_read_bounded_stops_one_byte_past_the_limit() -> None:
    stream = _CountingStream()

    with pytest.raises(TooLarge, match="larger than 1000000 bytes") as caught:
        read_bounded(stream, max_bytes=1_000_000)

    assert stream.read_bytes == 1_000_001
    assert caught.value.http_status == 413


def _wsgi_request(body: bytes, **environ: object) -> WSGIRequest:
    return WSGIRequest({"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/traces", "wsgi.input": io.BytesIO(body), **environ})


def test_a_request_with_a_length_reads_that_many_bytes() -> None:
    request = _wsgi_request(b"0123456789", CONTENT_LENGTH="4", **{"wsgi.input_terminated": True})
    assert read_request_body(request, max_bytes=100) == b"0123"


def test_a_request_without_a_length_reads_a_terminated_input_to_its_end() -> None:
    # What gunicorn gives for Transfer-Encoding: chunked: no CONTENT_LENGTH, the de-chunked body.
    request = _wsgi_request(b"x" * 5000, **{"wsgi.input_terminated": True})
    assert read_request_body(request, max_bytes=5000) == b"x" * 5000


def test_a_request_without_a_length_is_bounded_like_any_other() -> None:
    stream = _CountingStream()
    request = WSGIRequest(
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/traces", "wsgi.input": stream, "wsgi.input_terminated": True}
    )

    with pytest.raises(TooLarge):
        read_request_body(request, max_bytes=1000)

    assert stream.read_bytes == 1001


def test_an_unterminated_input_without_a_length_is_not_read() -> None:
    # A server that does not end the input (runserver) would block the read until the client gives up.
    request = _wsgi_request(b"never read")
    assert read_request_body(request, max_bytes=100) == b""


def test_a_chunked_body_the_server_does_not_end_is_refused_not_read_as_empty() -> None:
    request = _wsgi_request(b"5\r\nhello\r\n0\r\n\r\n", HTTP_TRANSFER_ENCODING="chunked")

    with pytest.raises(LengthRequired) as caught:
        read_request_body(request, max_bytes=100)

    assert caught.value.http_status == 411
