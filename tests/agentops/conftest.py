"""Real processes for the process tests: `agentops up` in a temporary AGENTOPS_HOME, and helpers.

Every `up` gets an environment without DATABASE_URL and CELERY_BROKER_URL, so it runs on the embedded
PostgreSQL and the filesystem broker of its own home, as a user's first `agentops up` does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

READY_DEADLINE = 120.0
STOP_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agentops_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(AGENTOPS_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def run_agentops(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentops", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class UpProcess:
    """A running `agentops up`, its collected output, and what it started."""

    popen: subprocess.Popen[str]
    home: Path
    port: int
    lines: list[str] = field(default_factory=list)
    grpc_port: int = 0  # `up`'s OTLP/gRPC port

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def env(self) -> dict[str, str]:
        return agentops_env(self.home)

    def wait_for_output(self, text: str, deadline: float = 60) -> bool:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if text in self.output:
                return True
            if self.popen.poll() is not None:
                self._reader.join(timeout=5)
                return text in self.output
            time.sleep(0.2)
        return False

    def wait_ready(self, deadline: float = READY_DEADLINE) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.popen.poll() is not None:
                self._reader.join(timeout=5)
                pytest.fail(f"agentops up exited with {self.popen.returncode}:\n{self.output}")
            try:
                if requests.get(self.url("/readyz"), timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        pytest.fail(f"agentops up was not ready within {deadline} s:\n{self.output}")

    def postgres(self) -> list[psutil.Process]:
        """The embedded server: pg_ctl daemonizes it, so it is no descendant of up; postmaster.pid names it."""
        pidfile = self.home / "pgdata" / "postmaster.pid"
        if not pidfile.exists():
            return []
        try:
            postmaster = psutil.Process(int(pidfile.read_text().splitlines()[0]))
            return [postmaster, *postmaster.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> list[psutil.Process]:
        """Every process `up` is responsible for: its descendants and the embedded PostgreSQL."""
        return [*psutil.Process(self.popen.pid).children(recursive=True), *self.postgres()]

    def child_pid(self, name: str) -> int:
        """The pid of a direct child, from the supervisor's "<name> started (pid N)" line."""
        marker = f"{name} started (pid "
        for line in self.lines:
            if marker in line:
                return int(line.split(marker)[1].split(")")[0])
        raise AssertionError(f"no {name!r} child in:\n{self.output}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._reader.join(timeout=10)
        return code


def start_up(home: Path, port: int | None = None, **env: str) -> UpProcess:
    port = port or free_port()
    # A free gRPC port too: 4317 may be taken by a Collector, or by another test's `up`.
    grpc_port = free_port()
    popen = subprocess.Popen(
        [
            *(sys.executable, "-m", "agentops", "up", "--port", str(port), "--grpc-port", str(grpc_port)),
            *("--workers", "1", "--concurrency", "1"),
        ],
        env=agentops_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    return UpProcess(popen=popen, home=home, port=port, grpc_port=grpc_port)


def assert_all_gone(processes: list[psutil.Process], deadline: float = STOP_DEADLINE) -> None:
    assert processes, "no processes were recorded"
    _, alive = psutil.wait_procs(processes, timeout=deadline)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"


@pytest.fixture
def up_home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="module")
def running_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """One `agentops up` on a fresh home, shared by a module's tests (each start costs seconds)."""
    up = start_up(tmp_path_factory.mktemp("up") / "home")
    try:
        up.wait_ready()
        yield up
    finally:
        up.stop()
