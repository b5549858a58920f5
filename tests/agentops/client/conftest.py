"""The client against the real server: pytest-django's live_server (the real URLconf, views and
database, threaded), an agent's ingest key, and a reviewer who decides through the services from the
test's thread while the client blocks in another.

FaultyProxy sits between the client and the server when a test needs to see or break the traffic: it
forwards each request and records it, or answers it with a status, or forwards it and then drops the
connection without an answer (the server acted; the client never hears of it).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from agentops.approvals.models import ApprovalRequest
from agentops.tenancy.models import IngestKey, Project, User
from agentops.tenancy.services import ingest_key_create
from tests.conftest import Personas

DEADLINE = 60.0  # the longest a test waits for the client or the server; normally well under a second


@dataclass
class Agent:
    url: str
    key: str  # the ingest key's secret
    ingest_key: IngestKey
    project: Project
    reviewer: User
    pool: ThreadPoolExecutor

    def ask(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run a blocking client call in another thread, as the agent process would."""
        return self.pool.submit(function, *args, **kwargs)

    def request(self, future: Future[Any] | None = None, count: int = 1) -> ApprovalRequest:
        """The newest request of the project once `count` exist (the client's POST has landed)."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if future is not None and future.done():
                future.result()  # the client gave up early: show why
                pytest.fail("the client returned before its request was decided")
            if ApprovalRequest.objects.filter(project=self.project).count() >= count:
                return ApprovalRequest.objects.filter(project=self.project).latest("id")
            time.sleep(0.05)
        pytest.fail(f"no approval request within {DEADLINE} s")


@pytest.fixture
def agent(live_server: Any, personas: Personas) -> Iterator[Agent]:
    minted = ingest_key_create(project=personas.project, name="agent")
    pool = ThreadPoolExecutor(max_workers=4)
    try:
        yield Agent(
            url=live_server.url,
            key=minted.secret,
            ingest_key=minted.key,
            project=personas.project,
            reviewer=personas.reviewer,
            pool=pool,
        )
    finally:
        # A client still blocked (a failed test) ends with its own `timeout`; do not wait for it here.
        pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Seen:
    at: float
    method: str
    path: str
    status: int | None  # None: dropped without an answer


@dataclass
class FaultyProxy:
    """Forwards to `target`; `fault(method, path, n)` (n: how many requests with this method came
    before) returns None to forward, "drop" to forward and drop the answer, or (status, headers) to
    answer that instead of forwarding."""

    target: str
    fault: Callable[[str, str, int], Any] = lambda method, path, n: None
    # Forward GETs without their ?wait=, as a server without the long-poll answers: at once.
    strip_wait: bool = False
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self
        target = urlsplit(self.target)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    n = sum(1 for s in proxy.seen if s.method == self.command)
                    seen = Seen(time.monotonic(), self.command, self.path, None)
                    proxy.seen.append(seen)
                action = proxy.fault(self.command, self.path, n)
                if isinstance(action, tuple):
                    status, headers = action
                    seen.status = status
                    self.send_response(status)
                    for name, value in {**headers, "Content-Type": "application/json", "Content-Length": "2"}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                upstream = http.client.HTTPConnection(
                    target.hostname or "127.0.0.1", target.port, timeout=DEADLINE + 30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                path = self.path.split("?")[0] if proxy.strip_wait else self.path
                upstream.request(self.command, path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
                upstream.close()
                if action == "drop":
                    self.close_connection = True
                    return
                seen.status = answer.status
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in {"connection", "transfer-encoding", "content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(agent: Agent) -> Iterator[FaultyProxy]:
    faulty = FaultyProxy(agent.url)
    try:
        yield faulty
    finally:
        faulty.close()
