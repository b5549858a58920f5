"""Chunked OTLP bodies (Transfer-Encoding: chunked, no Content-Length) under a real gunicorn.

What the OpenTelemetry JS exporter and any streaming client send. Django alone reads such a body as
empty; through `agentops web` each must be stored exactly as the same body sent with Content-Length,
protobuf or JSON, gzip or not, and held to the same size limit (413 past it, not a byte more read).
"""

from __future__ import annotations

import gzip
import http.client
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.test import Client
from google.rpc import status_pb2

from agentops.tenancy import services
from agentops.tenancy.roles import Role
from tests.agentops.conftest import UpProcess
from tests.factories import make_project
from tests.otlp import AgentTrace, otlp_json, protobuf
from tests.traces.conftest import JSON, PROTOBUF, IngestSetup, api_get, setup_for
from tests.traces.servers import serve

pytestmark = pytest.mark.slow

LIMIT = 64 * 1024  # INGEST_MAX_BODY_BYTES of the server under test
RESOURCE_EXHAUSTED = 8  # google.rpc.Code
INVALID_ARGUMENT = 3


# The async worker (what `agentops web` and `up` run by default: its front reads the body whole before
# Django) and gunicorn's threaded one (`--server threads`: Django reads what gunicorn de-chunks).
@pytest.fixture(scope="module", params=["async", "threads"])
def web(
    request: pytest.FixtureRequest, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UpProcess]:
    """One `agentops web` (gunicorn, one worker) on the test database for the module's tests."""
    home = tmp_path_factory.mktemp("web") / "home"

    def healthy(process: UpProcess) -> bool:
        try:
            return requests.get(process.url("/healthz"), timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    args = ("--workers", "1", "--threads", "4", "--server", request.param)
    with serve("web", home, *args, ready=healthy, INGEST_MAX_BODY_BYTES=str(LIMIT)) as process:
        worker = "gthread" if request.param == "threads" else "agentops.server.worker.AgentopsWorker"
        assert process.wait_for_output(f"Using worker: {worker}"), process.output
        yield process


@pytest.fixture
def twins(transactional_db: None) -> tuple[IngestSetup, IngestSetup]:
    """Two projects of one engineer: the same trace goes to one chunked, to the other with a length."""
    from tests.traces.conftest import make_engineer

    project = make_project()
    engineer = make_engineer(project)
    twin = make_project()
    services.membership_grant(user=engineer, project=twin, role=Role.ENGINEER)
    return setup_for(project, engineer), setup_for(twin, engineer)


def in_chunks(body: bytes, size: int) -> Iterator[bytes]:
    # A generator has no length: requests sends it with Transfer-Encoding: chunked, one chunk a yield.
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post_chunked(web: UpProcess, key: str, body: bytes, media: str, gzipped: bool = False) -> requests.Response:
    headers = {"Content-Type": media, "Authorization": f"Bearer {key}"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    request = requests.Request("POST", web.url("/v1/traces"), data=in_chunks(body, 97), headers=headers).prepare()
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in request.headers
    with requests.Session() as session:
        return session.send(request, timeout=30)


def run(setup: IngestSetup, trace_hex: str) -> dict[str, Any]:
    # Read back in this process: the server's ContentType cache (guardian's permission checks) goes
    # stale when transactional_db flushes and recreates the content types between tests.
    data: dict[str, Any] = api_get(Client(), setup.run_url(trace_hex), setup)
    return data


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("media", [PROTOBUF, JSON], ids=["protobuf", "json"])
def test_a_chunked_body_is_stored_as_the_same_body_with_a_length(
    web: UpProcess, twins: tuple[IngestSetup, IngestSetup], media: str, gzipped: bool
) -> None:
    chunked, with_length = twins
    trace = AgentTrace(llm_calls=3)
    body = (protobuf if media == PROTOBUF else otlp_json)(trace.built())
    if gzipped:
        body = gzip.compress(body)
    assert len(body) > 97 * 5  # many chunks

    response = post_chunked(web, chunked.key, body, media, gzipped)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == media
    assert response.content == (b"" if media == PROTOBUF else b"{}")  # no partial success: all stored
    headers = {"Content-Type": media, "Authorization": f"Bearer {with_length.key}"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    assert requests.post(web.url("/v1/traces"), data=body, headers=headers, timeout=30).status_code == 200
    stored = run(chunked, trace.trace_hex)
    assert stored["step_count"] == len(trace.spans) == 5
    assert stored["llm_calls"] == 3
    assert stored == run(with_length, trace.trace_hex)


def test_http_client_chunked_encoding_is_read_whole(web: UpProcess, twins: tuple[IngestSetup, IngestSetup]) -> None:
    setup, _ = twins
    trace = AgentTrace()
    body = gzip.compress(protobuf(trace.built()))
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        headers = {"Content-Type": PROTOBUF, "Content-Encoding": "gzip", "Authorization": f"Bearer {setup.key}"}
        # One chunk per 10 bytes, from an iterable: http.client frames each as a chunk.
        connection.request("POST", "/v1/traces", body=in_chunks(body, 10), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"")
    finally:
        connection.close()
    assert run(setup, trace.trace_hex)["step_count"] == len(trace.spans)


def test_a_chunked_body_is_held_to_the_limit_to_the_byte(
    web: UpProcess, twins: tuple[IngestSetup, IngestSetup]
) -> None:
    setup, _ = twins
    # Exactly the limit is read (and is not protobuf: 400), one byte more is refused unread (413).
    at_limit = post_chunked(web, setup.key, b"\xff" * LIMIT, PROTOBUF)
    over = post_chunked(web, setup.key, b"\xff" * (LIMIT + 1), PROTOBUF)

    assert at_limit.status_code == 400, at_limit.text
    assert status_pb2.Status.FromString(at_limit.content).code == INVALID_ARGUMENT
    assert over.status_code == 413
    status = status_pb2.Status.FromString(over.content)
    assert status.code == RESOURCE_EXHAUSTED
    assert str(LIMIT) in status.message


def test_a_chunked_gzip_bomb_is_refused_after_inflating_past_the_limit(
    web: UpProcess, twins: tuple[IngestSetup, IngestSetup]
) -> None:
    setup, _ = twins
    bomb = gzip.compress(b"\x00" * (LIMIT * 16))
    assert len(bomb) < LIMIT

    response = post_chunked(web, setup.key, bomb, JSON, gzipped=True)

    assert response.status_code == 413
    assert response.headers["Content-Type"] == JSON
    assert "after gzip decompression" in response.json()["message"]


def test_a_chunked_body_without_a_key_is_refused(web: UpProcess, transactional_db: None) -> None:
    response = post_chunked(web, "aok_wrong", protobuf(AgentTrace().built()), PROTOBUF)
    assert response.status_code == 401


def test_chunked_logs_and_metrics_are_read_whole(web: UpProcess, twins: tuple[IngestSetup, IngestSetup]) -> None:
    # The JavaScript exporters chunk every body, their logs and metrics too.
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

    from tests.traces.ingest.test_logs import metrics_request, record
    from tests.traces.ingest.test_logs import request as logs_request
    from traces.models import LogRecord

    setup, _ = twins
    headers = {"Content-Type": PROTOBUF, "Authorization": f"Bearer {setup.key}"}
    body = logs_request(record(), record(time_unix_nano=1_767_225_600_000_000_123)).SerializeToString()
    response = requests.post(web.url("/v1/logs"), data=in_chunks(body, 13), headers=headers, timeout=30)
    assert (
        response.status_code,
        ExportLogsServiceResponse.FromString(response.content).partial_success.rejected_log_records,
    ) == (200, 0)
    assert LogRecord.objects.filter(project=setup.project).count() == 2

    body = metrics_request().SerializeToString()
    response = requests.post(web.url("/v1/metrics"), data=in_chunks(body, 13), headers=headers, timeout=30)
    rejected = ExportMetricsServiceResponse.FromString(response.content).partial_success.rejected_data_points
    assert (response.status_code, rejected) == (200, 9)  # every point, none lost to an empty read
