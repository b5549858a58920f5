"""Real agentops server processes (`agentops web`, `agentops grpc`) on the test database.

The process gets the test database's URL, so what it commits is what the test reads back (the test
must use `transactional_db`: rows the test writes in a transaction the server could not see), and a
home of its own in a temporary folder (broker folders, static root).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psutil

from tests.agentops.conftest import UpProcess, agentops_env, free_port

DEADLINE = 60.0


def test_database_url() -> str:
    """The URL of the database the tests run on (test_<name>), as DATABASE_URL spells it."""
    from django.db import connection

    db = connection.settings_dict
    auth = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    host = db["HOST"] or ""
    if host.startswith("/"):  # the embedded server's Unix socket folder
        return f"postgres://{auth}@/{db['NAME']}?host={quote(host, safe='/')}"
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def serve(
    command: str, home: Path, *args: str, ready: Callable[[UpProcess], bool] | None = None, **env: str
) -> Iterator[UpProcess]:
    """`agentops <command> --port <free port> <args>` on the test database, until the block ends.

    Ready once `ready(process)` is true (default: the port accepts connections); every process it
    started is gone when the block ends, or the test fails.
    """
    port = free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", "agentops", command, "--port", str(port), *args],
        env=agentops_env(home, DATABASE_URL=test_database_url(), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    process = UpProcess(popen=popen, home=home, port=port)
    started = [psutil.Process(popen.pid)]
    is_ready = ready or (lambda p: _port_open(p.port))
    try:
        end = time.monotonic() + DEADLINE
        while not is_ready(process):
            assert popen.poll() is None, f"agentops {command} exited:\n{process.output}"
            assert time.monotonic() < end, f"agentops {command} was not ready:\n{process.output}"
            time.sleep(0.2)
        started += started[0].children(recursive=True)
        yield process
    finally:
        process.stop()
        _, alive = psutil.wait_procs(started, timeout=DEADLINE)
        assert not alive, f"left running: {alive}"
