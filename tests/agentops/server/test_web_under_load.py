"""`agentops web` against slow, stalled and too many clients: a real server process, real sockets.

Each test starts its own `agentops web` with small limits (so that a handful of connections is
"too many") and checks what an operator cares about: the health check and pages still answer, stalled
clients are cut off with 408, what the server cannot take in time is refused with 503 and Retry-After
(never a time-out at the client), and nothing is stored for a request it refused.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.agentops.conftest import UpProcess
from tests.factories import make_project
from tests.otlp import AgentTrace, protobuf
from tests.traces.conftest import PROTOBUF, IngestSetup, make_engineer, setup_for
from tests.traces.servers import serve

pytestmark = pytest.mark.slow


def healthy(process: UpProcess) -> bool:
    try:
        return requests.get(process.url("/healthz"), timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def start_web(home: Path, *args: str, **env: str) -> Iterator[UpProcess]:
    with serve("web", home, "--workers", "1", *args, ready=healthy, **env) as process:
        yield process


@pytest.fixture
def setup(transactional_db: None) -> IngestSetup:
    project = make_project()
    return setup_for(project, make_engineer(project))


def timed_get(web: UpProcess, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = requests.get(web.url(path), timeout=30, allow_redirects=False).status_code
    return status, time.monotonic() - started


def read_to_close(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    conn.settimeout(10)
    received = b""
    while chunk := conn.recv(4096):
        received += chunk
    return received


def test_stalled_clients_do_not_block_the_server_and_are_cut_off(tmp_path: Path) -> None:
    env = {"WEB_HEADER_TIMEOUT_SECONDS": "2", "WEB_BODY_IDLE_TIMEOUT_SECONDS": "2"}
    for web in start_web(tmp_path / "home", "--threads", "2", **env):
        stalled = []
        # More stalled connections than the worker has threads: half a head, a head with half a body, a head
        # and no body.
        for _ in range(8):
            head = socket.create_connection(("127.0.0.1", web.port))
            head.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n")
            body = socket.create_connection(("127.0.0.1", web.port))
            body.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"\x0a" * 10)
            no_body = socket.create_connection(("127.0.0.1", web.port))
            no_body.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            stalled += [head, body, no_body]
        started = time.monotonic()
        for path in ("/healthz", "/login/", "/healthz"):
            status, took = timed_get(web, path)
            assert status == 200
            assert took < 1.0, f"{path} took {took:.1f} s behind stalled clients"
        for conn in stalled:
            answer = read_to_close(conn)
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            conn.close()
        # Every one cut off at its deadline (2 s from when it stalled), not held for ever.
        assert time.monotonic() - started < 6


def test_more_exports_than_the_server_can_take_are_refused_with_retry_after(tmp_path: Path, setup: IngestSetup) -> None:
    from traces.models import Step

    env = {"WEB_QUEUE_PER_THREAD": "1", "WEB_QUEUE_TIMEOUT_SECONDS": "1", "INGEST_RETRY_AFTER_SECONDS": "3"}
    traces = [[AgentTrace(llm_calls=30) for _ in range(8)] for _ in range(40)]
    bodies = [protobuf([s for t in batch for s in t.built()]) for batch in traces]
    headers = {"Content-Type": PROTOBUF, "Authorization": f"Bearer {setup.key}"}
    for web in start_web(tmp_path / "home", "--threads", "2", **env):

        def export(body: bytes, port: int = web.port) -> tuple[int, str | None, float]:
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/v1/traces", body, headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            return response.status, response.getheader("Retry-After"), time.monotonic() - started

        with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
            answers = pool.map(export, bodies)
            # Meanwhile the health check answers at once.
            health = [timed_get(web, "/healthz") for _ in range(3)]
            answered = list(answers)
        assert all(status == 200 and took < 1.0 for status, took in health), health
        statuses = [status for status, _, _ in answered]
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(503) > 0, "nothing was refused: the test did not overload the server"
        assert statuses.count(200) > 0
        assert all(retry == "3" for status, retry, _ in answered if status == 503)
        # Refused as soon as there was no room, not after a client's patience ran out.
        assert max(took for status, _, took in answered if status == 503) < 5
        # Stored: exactly the accepted batches' spans.
        accepted = sum(
            len(t.spans) for (status, _, _), batch in zip(answered, traces, strict=True) if status == 200 for t in batch
        )
        assert Step.objects.filter(project=setup.project).count() == accepted


def test_concurrent_large_bodies_stay_within_the_memory_budget(tmp_path: Path, setup: IngestSetup) -> None:
    from traces.models import Step

    env = {"WEB_MAX_INFLIGHT_BODY_BYTES": str(300_000), "WEB_BODY_IDLE_TIMEOUT_SECONDS": "10"}
    big = [protobuf([s for _ in range(12) for s in AgentTrace(llm_calls=30).built()]) for _ in range(2)]
    assert all(200_000 < len(b) < 300_000 for b in big), [len(b) for b in big]
    for web in start_web(tmp_path / "home", "--threads", "4", **env):
        # The first body is on its way (half sent): the worker holds its declared size.
        slow = socket.create_connection(("127.0.0.1", web.port))
        head = (
            f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {PROTOBUF}\r\n"
            f"Authorization: Bearer {setup.key}\r\nContent-Length: {len(big[0])}\r\n\r\n"
        )
        half = len(big[0]) // 2
        slow.sendall(head.encode() + big[0][:half])
        time.sleep(0.5)
        second = requests.post(
            web.url("/v1/traces"),
            data=big[1],
            headers={"Content-Type": PROTOBUF, "Authorization": f"Bearer {setup.key}"},
        )
        assert second.status_code == 503
        assert second.headers["Retry-After"]
        # Once the first is in, the retry goes through.
        slow.sendall(big[0][half:])
        slow.settimeout(30)
        first = slow.recv(100)
        assert first.startswith(b"HTTP/1.1 200 "), first
        slow.close()
        # (The first request gives its bytes back once its thread is done, a moment after its answer.)
        for _ in range(20):
            retry = requests.post(
                web.url("/v1/traces"),
                data=big[1],
                headers={"Content-Type": PROTOBUF, "Authorization": f"Bearer {setup.key}"},
            )
            if retry.status_code != 503:
                break
            time.sleep(0.1)
        assert retry.status_code == 200
        assert Step.objects.filter(project=setup.project).count() == 2 * 12 * 32
