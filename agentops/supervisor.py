"""Run a few child processes together and stop them together (the engine of `agentops up`).

Each child runs in its own session (so a terminal's Ctrl-C reaches only the supervisor, which forwards
it) and its output is relayed line by line with a name prefix, like honcho. SIGINT or SIGTERM stops
every child: SIGTERM to each child, then to whatever its process group still holds once it is gone,
up to 15 s, then SIGKILL for what is left; `run()` then returns 0. A child that exits on its own is
reported by name and exit code, the others are stopped the same way, and `run()` returns 1.

`preflight()` checks, before anything is started, what would otherwise fail late and obscurely.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from agentops.home import ensure_home

STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.25


class StartupError(Exception):
    """A problem found before start that the user must fix; the message says what to do."""


def preflight(*, host: str, port: int, home: Path | None, grpc_port: int = 0) -> None:
    """Fail at once when a port is taken or AGENTOPS_HOME cannot be written (None: not used).
    `grpc_port` 0: no gRPC port to check."""
    if home is not None:
        ensure_home(home)
    _check_port(host, port, "--port")
    if grpc_port:
        _check_port(host, grpc_port, "--grpc-port (0: no OTLP/gRPC)")


def _check_port(host: str, port: int, option: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as gunicorn sets it: a port in TIME_WAIT is free for it, and so for us.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {port} on {host} is in use: stop the other program or pass {option}") from exc
            raise StartupError(f"cannot listen on {host}:{port} ({exc.strerror}): check --host and {option}") from exc


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]


@dataclass
class _Child:
    spec: ChildSpec
    popen: subprocess.Popen[bytes]
    relay: threading.Thread = field(init=False)

    @property
    def pid(self) -> int:
        return self.popen.pid


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        env: dict[str, str],
        out: IO[str] | None = None,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.specs = list(specs)
        self.env = env
        self.out = out or sys.stdout
        self.stop_timeout = stop_timeout
        self.children: list[_Child] = []
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._force = threading.Event()
        self.failure: str | None = None
        self._width = max(len(s.name) for s in [*self.specs, ChildSpec("up", [])])

    # --- output -----------------------------------------------------------------------------------
    def say(self, message: str, *, name: str = "up") -> None:
        with self._write_lock:
            self.out.write(f"{name.ljust(self._width)} | {message}\n")
            self.out.flush()

    def _relay(self, child: _Child) -> None:
        assert child.popen.stdout is not None
        for raw in iter(child.popen.stdout.readline, b""):
            self.say(raw.decode(errors="replace").rstrip("\r\n"), name=child.spec.name)
        child.popen.stdout.close()

    # --- signals ----------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop.is_set():
            # A second Ctrl-C: the user does not want to wait for a graceful stop.
            self._force.set()
        self._stop.set()

    # --- life cycle -------------------------------------------------------------------------------
    def run(
        self,
        *,
        ready: Callable[[], bool] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> int:
        """Start the children and supervise them until a signal or a child's exit; the exit code.

        `on_ready` is called once, the first time `ready()` answers True while every child runs.
        """
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        failed: _Child | None = None
        try:
            for spec in self.specs:
                self._start(spec)
                if self._stop.is_set():
                    break
            announced = ready is None
            while not self._stop.is_set():
                failed = next((c for c in self.children if c.popen.poll() is not None), None)
                if failed is not None:
                    break
                if not announced and ready is not None and ready():
                    announced = True
                    if on_ready is not None:
                        on_ready()
                self._stop.wait(POLL_INTERVAL)
        finally:
            if failed is not None:
                self.failure = f"{failed.spec.name} (pid {failed.pid}) {_describe_exit(failed.popen.returncode)}"
                self.say(f"{self.failure}; see its log above. Stopping the others.")
            else:
                self.say("stopping (press Ctrl-C again to kill at once)")
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed is not None:
            return 1
        return 0

    def _start(self, spec: ChildSpec) -> None:
        popen = subprocess.Popen(
            list(spec.argv),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child = _Child(spec=spec, popen=popen)
        child.relay = threading.Thread(target=self._relay, args=(child,), name=f"relay-{spec.name}", daemon=True)
        child.relay.start()
        self.children.append(child)
        self.say(f"{spec.name} started (pid {popen.pid})")

    def _stop_all(self) -> None:
        # SIGTERM goes to each leader first: gunicorn and Celery then stop their own workers gracefully
        # (Celery's pool processes, signalled directly, would die in the middle of their tasks). Each
        # child leads its own process group (start_new_session), so what a leader leaves behind, because
        # it died or exited without waiting, is found there, and gets SIGTERM once the leader is gone.
        for child in self.children:
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)
        orphans_signalled: set[int] = set()
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and not self._force.is_set():
            for child in self.children:
                # poll() reaps a dead leader: an unreaped zombie would keep its group "alive".
                if child.popen.poll() is not None and child.pid not in orphans_signalled:
                    orphans_signalled.add(child.pid)
                    _signal_group(child.pid, signal.SIGTERM)
            if not any(_group_alive(c.pid) for c in self.children):
                break
            self._force.wait(0.1)
        for child in self.children:
            child.popen.poll()
            if _group_alive(child.pid):
                self.say(f"{child.spec.name} did not stop in time: killing it")
                _signal_group(child.pid, signal.SIGKILL)
        for child in self.children:
            code = child.popen.wait()
            child.relay.join(timeout=5)
            self.say(f"{child.spec.name} stopped ({_describe_exit(code)})")
