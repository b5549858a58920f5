"""PostgreSQL going away under a running `agentops web`: the endpoint answers 503 with Retry-After (never
200 for what it did not store), and the real OpenTelemetry exporter, retrying, gets its batch through
once PostgreSQL is back, stored exactly once.

Everything is real and separate from the test database: its own embedded PostgreSQL (pgserver) in a
temporary folder, migrated and given a project with the `agentops` commands, and gunicorn serving it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.agentops.conftest import UpProcess, agentops_env, free_port, run_agentops
from tests.otlp import AgentTrace, protobuf
from tests.traces.conftest import PROTOBUF, emit_agent_run

pytestmark = pytest.mark.slow

RETRY_AFTER = 2  # seconds; short, so the exporter's retries fit well inside its timeout
UNAVAILABLE = 14  # google.rpc.Code
UNAVAILABLE_EVENT = '"event": "ingest.unavailable"'
DEADLINE = 60.0


@dataclass
class Postgres:
    """A pgserver-managed PostgreSQL of our own, which the test stops and starts with pg_ctl."""

    server: Any
    pgdata: Path
    socket_dir: Path

    @property
    def uri(self) -> str:
        return str(self.server.get_uri(database="agentops"))

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import, per binary

        # As pgserver runs it: as its own unprivileged user when the tests run as root.
        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=DEADLINE)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        # The options pgserver itself starts it with: no TCP, the same socket folder, so the URI holds.
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start")

    def postmaster(self) -> psutil.Process | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return psutil.Process(int(pidfile.read_text().splitlines()[0]))
        except (FileNotFoundError, psutil.NoSuchProcess, IndexError, ValueError):
            return None


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    import pgserver

    # Not under pytest's tmp_path: pgserver runs PostgreSQL as its own user, which must traverse the
    # folders above the data, and any pytest session of root's (another checkout's, say) takes the group
    # and other bits off /tmp/pytest-of-root as it starts, locking pg_ctl out halfway through a test.
    top = Path(tempfile.mkdtemp(prefix="agentops-outage-"))
    top.chmod(0o755)
    pgdata = top / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    pg = Postgres(server=server, pgdata=pgdata, socket_dir=server.get_postmaster_info().socket_dir)
    try:
        server.psql("CREATE DATABASE agentops;")
        yield pg
    finally:
        # pgserver would stop only the postmaster it started itself, not one the test restarted.
        postmaster = pg.postmaster()
        if postmaster is not None:
            pg.stop()
            psutil.wait_procs([postmaster], timeout=DEADLINE)
        server.cleanup()
        assert pg.postmaster() is None, "PostgreSQL was left running"
        shutil.rmtree(top, ignore_errors=True)


def agentops(*args: str, env: dict[str, str]) -> dict[str, Any]:
    result = run_agentops(*args, env=env)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return json.loads(result.stdout) if "--json" in args else {}


def project_on(postgres: Postgres, home: Path) -> tuple[dict[str, str], str]:
    """The environment of agentops processes on the separate PostgreSQL, migrated and given a project;
    and the project's ingest key."""
    env = agentops_env(
        home,
        DATABASE_URL=postgres.uri.replace("postgresql://", "postgres://", 1),
        INGEST_RETRY_AFTER_SECONDS=str(RETRY_AFTER),
        LOG_LEVEL="INFO",
    )
    agentops("migrate", "--no-input", env=env)
    agentops("createorg", "Acme", "--slug", "acme", "--json", env=env)
    key = agentops("createproject", "Support", "--org", "acme", "--slug", "support", "--json", env=env)["ingest_key"]
    return env, key


@pytest.fixture
def web(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[UpProcess, str]]:
    """`agentops web` on the separate PostgreSQL, with a project; yields the process and an ingest key."""
    env, key = project_on(postgres, tmp_path / "home")
    port = free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", "agentops", "web", "--port", str(port), "--workers", "1", "--threads", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    process = UpProcess(popen=popen, home=tmp_path / "home", port=port)
    started = [psutil.Process(popen.pid)]
    try:
        end = time.monotonic() + DEADLINE
        while True:
            assert popen.poll() is None, f"agentops web exited:\n{process.output}"
            assert time.monotonic() < end, f"agentops web did not answer:\n{process.output}"
            try:
                if requests.get(process.url("/healthz"), timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        started += started[0].children(recursive=True)
        yield process, key
    finally:
        process.stop()
        _, alive = psutil.wait_procs(started, timeout=DEADLINE)
        assert not alive, f"left running: {alive}"


def stored(postgres: Postgres, trace_hex: str) -> tuple[int, int | None]:
    """(steps stored for the trace, the run's step_count) read straight from the database."""
    with psycopg.connect(postgres.uri) as conn:
        steps = conn.execute("SELECT count(*) FROM traces_step WHERE trace_id = %s", [trace_hex]).fetchone()
        run = conn.execute("SELECT step_count FROM traces_run WHERE trace_id = %s", [trace_hex]).fetchone()
    assert steps is not None
    return steps[0], (run[0] if run else None)


def post(process: UpProcess, key: str, body: bytes) -> requests.Response:
    headers = {"Content-Type": PROTOBUF, "Authorization": f"Bearer {key}"}
    return requests.post(process.url("/v1/traces"), data=body, headers=headers, timeout=30)


def test_an_outage_is_503_and_the_exporter_gets_its_batch_through_afterwards(
    postgres: Postgres, web: tuple[UpProcess, str]
) -> None:
    process, key = web
    before = AgentTrace()
    assert post(process, key, protobuf(before.built())).status_code == 200
    assert stored(postgres, before.trace_hex) == (4, 4)

    postgres.stop()
    during = AgentTrace()
    response = post(process, key, protobuf(during.built()))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER)
    assert response.headers["Content-Type"] == PROTOBUF
    status = status_pb2.Status.FromString(response.content)
    assert status.code == UNAVAILABLE
    assert "retry" in status.message

    # PostgreSQL comes back only after the exporter has been told 503 at least once: on the server's
    # second "unavailable" event (the first was the request above), not after some guessed delay.
    restart_errors: list[BaseException] = []

    def restart_when_the_exporter_was_refused() -> None:
        try:
            end = time.monotonic() + DEADLINE
            while process.output.count(UNAVAILABLE_EVENT) < 2:
                if time.monotonic() > end:
                    raise TimeoutError(f"the exporter's first attempt never reached the server:\n{process.output}")
                time.sleep(0.1)
            postgres.start()
        except BaseException as exc:
            restart_errors.append(exc)

    restarter = threading.Thread(target=restart_when_the_exporter_was_refused, daemon=True)
    restarter.start()
    ids = emit_agent_run()  # the spans, made in memory; exported below by the real exporter
    session = requests.Session()
    statuses: list[int] = []
    session.hooks["response"].append(lambda r, *a, **k: statuses.append(r.status_code))
    exporter = OTLPSpanExporter(
        endpoint=process.url("/v1/traces"),
        headers={"Authorization": f"Bearer {key}"},
        timeout=DEADLINE,
        session=session,
    )

    result = exporter.export(ids.spans)

    restarter.join(DEADLINE)
    assert not restart_errors, restart_errors
    assert result is SpanExportResult.SUCCESS, (statuses, process.output[-3000:])
    assert statuses[0] == 503 and statuses[-1] == 200
    assert set(statuses[:-1]) == {503}
    # Stored exactly once, the run's aggregates counting each step once; nothing of the refused request.
    assert stored(postgres, ids.trace_id) == (5, 5)
    assert stored(postgres, during.trace_hex) == (0, None)
    assert stored(postgres, before.trace_hex) == (4, 4)
