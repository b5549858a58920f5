"""`agentops web`, `agentops worker` and `agentops beat`: one process type each, as production runs them.

Each runs alone on a temporary home (so it starts and stops its own embedded database), serves or
consumes, and on SIGTERM stops with exit code 0, leaving no process behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from agentops.management.commands.web import ASYNC_WORKER, gunicorn_options
from tests.agentops.conftest import UpProcess, agentops_env, assert_all_gone, free_port


def start(home: Path, *args: str) -> UpProcess:
    popen = subprocess.Popen(
        [sys.executable, "-m", "agentops", *args],
        env=agentops_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    return UpProcess(popen=popen, home=home, port=0)


def wait_for_children(process: UpProcess, count: int, deadline: float = 60) -> list[psutil.Process]:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = psutil.Process(process.popen.pid).children(recursive=True)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    pytest.fail(f"fewer than {count} children:\n{process.output}")


def stop_cleanly(process: UpProcess) -> None:
    processes = [psutil.Process(process.popen.pid), *psutil.Process(process.popen.pid).children(recursive=True)]
    processes += process.postgres()
    code = process.stop(signal.SIGTERM)
    assert code == 0, process.output
    assert_all_gone(processes)


@pytest.mark.slow
def test_web_serves_with_its_workers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    web = start(tmp_path / "home", "web", "--port", str(port), "--workers", "2", "--threads", "2")
    try:
        wait_for_children(web, 2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    finally:
        stop_cleanly(web)
    assert "Using worker: agentops.server.worker.AgentopsWorker" in web.output


@pytest.mark.slow
def test_grpc_serves_otlp_grpc_and_stops_on_sigterm(tmp_path: Path) -> None:
    import grpc

    port = free_port()
    server = start(tmp_path / "home", "grpc", "--port", str(port))
    try:
        assert server.wait_for_output(f"agentops grpc: OTLP/gRPC on 127.0.0.1:{port}"), server.output
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpc.RpcError) as refused:
                export(b"", metadata=[("authorization", "Bearer aok_none")], timeout=30)
        # Served: the call reached the key lookup, which the fresh home's unmigrated database could not
        # answer (no tables), so the batch is to be retried, not refused.
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert refused.value.details() == "the batch could not be stored; retry later"
    finally:
        stop_cleanly(server)
    assert "agentops grpc: stopped" in server.output


def test_grpc_on_a_port_in_use_fails_with_what_to_do(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start(tmp_path / "home", "grpc", "--port", str(port))
        code = server.popen.wait(timeout=120)
    server.stop()
    assert code != 0
    assert f"cannot listen for gRPC on 127.0.0.1:{port}" in server.output, server.output


@pytest.mark.slow
def test_worker_consumes_and_warm_shuts_down_on_sigterm(tmp_path: Path) -> None:
    worker = start(tmp_path / "home", "worker", "--concurrency", "1")
    try:
        assert worker.wait_for_output("ready."), worker.output
        assert (tmp_path / "home" / "broker" / "queue").is_dir()
    finally:
        stop_cleanly(worker)
    assert "Warm shutdown" in worker.output


@pytest.mark.slow
def test_beat_schedules_from_its_file_in_home_and_stops_on_sigterm(tmp_path: Path) -> None:
    beat = start(tmp_path / "home", "beat")
    try:
        assert beat.wait_for_output("beat: Starting..."), beat.output
    finally:
        stop_cleanly(beat)
    assert f"db -> {tmp_path / 'home' / 'celerybeat-schedule'}" in beat.output


def test_the_web_serves_with_the_async_worker_unless_threads_are_asked_for() -> None:
    assert gunicorn_options(host="127.0.0.1", port=1, workers=1, threads=4)["worker_class"] == ASYNC_WORKER
    assert gunicorn_options(host="127.0.0.1", port=1, workers=1, threads=1, server="threads")["worker_class"] == "sync"
    threaded = gunicorn_options(host="::1", port=8000, workers=3, threads=4, server="threads")
    assert threaded["worker_class"] == "gthread"
    assert threaded["bind"] == ["[::1]:8000"]
    assert threaded["workers"] == 3
