"""The retention defaults come from the environment, checked at start: days >= 1 or empty for ever, and
payload <= step <= run. Each case loads the settings in a fresh process, as a start does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PRINT = (
    "from django.conf import settings as s; "
    "print(s.RETENTION_PAYLOAD_DAYS, s.RETENTION_STEP_DAYS, s.RETENTION_RUN_DAYS, s.AUDIT_RETENTION_DAYS)"
)
NAMES = ("PAYLOAD", "STEP", "RUN")


def _load(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_RETENTION_", "AGENTOPS_AUDIT_"))}
    base.update({"AGENTOPS_HOME": str(home), "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}, **env)
    return subprocess.run(
        [sys.executable, "-m", "agentops", "shell", "--no-imports", "-c", PRINT],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(payload: str, step: str, run: str, audit: str = "") -> dict[str, str]:
    values = dict(zip(NAMES, (payload, step, run), strict=True))
    return {f"AGENTOPS_RETENTION_{n}_DAYS": v for n, v in values.items()} | {"AGENTOPS_AUDIT_RETENTION_DAYS": audit}


def test_defaults_are_read_and_empty_means_for_ever(tmp_path: Path) -> None:
    loaded = _load(tmp_path, **_env("7", "30", "", "400"))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["7", "30", "None", "400"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (("0", "", ""), "AGENTOPS_RETENTION_PAYLOAD_DAYS"),
        (("seven", "", ""), "AGENTOPS_RETENTION_PAYLOAD_DAYS"),
        (("40", "30", ""), "AGENTOPS_RETENTION_PAYLOAD_DAYS"),
        (("", "30", ""), "AGENTOPS_RETENTION_PAYLOAD_DAYS"),
        (("7", "", "90"), "AGENTOPS_RETENTION_STEP_DAYS"),
    ],
)
def test_a_bad_default_fails_the_start_naming_it(tmp_path: Path, values: tuple[str, str, str], named: str) -> None:
    loaded = _load(tmp_path, **_env(*values))
    assert loaded.returncode != 0 and named in loaded.stderr
