"""Where agentops keeps its embedded state: AGENTOPS_HOME.

Everything the embedded defaults need lives below one folder: the Postgres data directory, the
filesystem broker's queues, the beat schedule and the generated secret key. The folder is created on
first use; an unwritable folder raises `HomeNotWritable` with a message that says what to do.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import platformdirs


class HomeNotWritable(RuntimeError):
    pass


def agentops_home() -> Path:
    raw = os.environ.get("AGENTOPS_HOME") or platformdirs.user_data_dir("agentops", appauthor=False)
    return Path(raw).expanduser().resolve()


def ensure_home(home: Path | None = None) -> Path:
    home = home or agentops_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        # A probe of this process's own: processes starting at once (pytest-xdist's workers, `up`'s
        # children) would otherwise unlink each other's and take the missing file for an unwritable home.
        with tempfile.NamedTemporaryFile(dir=home, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise HomeNotWritable(
            f"AGENTOPS_HOME {home} is not writable ({exc.strerror}). "
            "Point AGENTOPS_HOME at a folder you can write to, or fix its permissions."
        ) from exc
    return home


def pgdata_dir(home: Path) -> Path:
    return home / "pgdata"


def broker_dir(home: Path) -> Path:
    return home / "broker"


def persistent_secret_key(home: Path) -> str:
    """A secret key generated once and kept in AGENTOPS_HOME, so sessions survive restarts."""
    path = home / "secret_key"
    if not path.exists():
        ensure_home(home)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()
