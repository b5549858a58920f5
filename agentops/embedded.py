"""The embedded PostgreSQL server (pgserver) used when DATABASE_URL is unset.

`database_url()` starts the server for AGENTOPS_HOME if it is not running, or attaches to the one that
is (for example the one `agentops up` started), and returns a libpq URI over its Unix socket. pgserver
counts the processes holding the server and stops it when the last one exits, so a one-off command
run alone starts and stops it, while one run beside `agentops up` leaves it running.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import psutil

from agentops.home import ensure_home, pgdata_dir

log = logging.getLogger(__name__)

DATABASE_NAME = "agentops"

_server = None


def database_url(home: Path) -> str:
    global _server
    # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns and uses /tmp.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    import pgserver

    ensure_home(home)
    if _server is None:
        with pgserver.PostgresServer._lock:
            _forget_dead_holders(pgdata_dir(home))
        _server = pgserver.get_server(pgdata_dir(home), cleanup_mode="stop")
        # Under the lock: processes starting at once on a new home (pytest-xdist's workers) would each
        # find no database and all but one fail to create it. CREATE DATABASE cannot run in a
        # transaction block; psql runs it on its own.
        with pgserver.PostgresServer._lock:
            exists = _server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
            if "(1 row)" not in exists:
                _server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    uri: str = _server.get_uri(database=DATABASE_NAME)
    return uri.replace("postgresql://", "postgres://", 1)


def _forget_dead_holders(pgdata: Path) -> None:
    """Drop the pids of killed processes from pgserver's list of holders.

    pgserver stops the server when its last holder exits, counting holders in a file; a holder that was
    SIGKILLed never removes itself, and the server would then never be stopped again.
    """
    holders = pgdata / ".handle_pids.json"
    if not holders.exists():
        return
    pids = json.loads(holders.read_text() or "[]")
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        holders.write_text(json.dumps(alive))


def stop() -> None:
    """Release this process's hold on the embedded server (stopping it if no other process holds it)."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None
