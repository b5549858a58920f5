"""Settings come from the environment only; secrets may come from files; the embedded default keeps a
generated SECRET_KEY in AGENTOPS_HOME. Each case loads the settings in a fresh process, as a start does."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PRINT = "from django.conf import settings as s; print(s.SECRET_KEY); print(s.DEBUG)"
# Parsed but never connected to: loading the settings must not need a database.
NO_DATABASE = "postgres://nobody@127.0.0.1:1/none"


def load(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG"}}
    base.update({"AGENTOPS_HOME": str(home), "DATABASE_URL": NO_DATABASE}, **env)
    return subprocess.run(
        [sys.executable, "-m", "agentops", "shell", "--no-imports", "-c", PRINT],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_generated_secret_key_is_kept_in_the_home_and_reused(tmp_path: Path) -> None:
    first, second = load(tmp_path), load(tmp_path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.splitlines()[0]
    assert len(key) >= 50
    assert second.stdout.splitlines()[0] == key
    stored = tmp_path / "secret_key"
    assert stored.read_text().strip() == key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert first.stdout.splitlines()[1] == "False"  # DEBUG is off unless asked for


def test_a_secret_may_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-0123456789-0123456789-0123456789\n")
    result = load(tmp_path / "home", SECRET_KEY_FILE=str(secret), SECRET_KEY="ignored-when-the-file-is-given")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "from-a-file-0123456789-0123456789-0123456789"
    assert not (tmp_path / "home" / "secret_key").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY_FILE": "/no/such/file"}, "SECRET_KEY_FILE=/no/such/file cannot be read"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL must point at PostgreSQL"),
        ({"CONN_MAX_AGE": "soon"}, "CONN_MAX_AGE must be a whole number"),
    ],
)
def test_a_bad_value_names_the_variable_and_exits_2(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = load(tmp_path, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
