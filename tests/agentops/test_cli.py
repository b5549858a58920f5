"""The `agentops` console script: problems the user must fix are one line and exit code 2, no traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agentops.conftest import UpProcess, agentops_env, assert_all_gone, run_agentops


def under_a_file(tmp_path: Path) -> Path:
    # Tests run as root, for whom permissions do not stop a write; a path below a regular file does.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    return blocker / "home"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "LOG_LEVEL",
            "nonsense",
            "agentops: LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not 'NONSENSE'",
        ),
        ("DEBUG", "maybe", "agentops: DEBUG must be true or false, not 'maybe'"),
        ("DATABASE_URL", "mysql://u@localhost/db", "agentops: DATABASE_URL must point at PostgreSQL"),
        ("GRPC_PORT", "grpc", "agentops: GRPC_PORT must be a whole number, not 'grpc'"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, variable: str, value: str, message: str) -> None:
    result = run_agentops("check", env=agentops_env(tmp_path / "home", **{variable: value}))

    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["check"], ["up", "--port", "0"]])
def test_an_unwritable_home_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    home = under_a_file(tmp_path)

    result = run_agentops(*command, env=agentops_env(home))

    assert result.returncode == 2
    assert result.stderr.startswith(f"agentops: AGENTOPS_HOME {home} is not writable"), result.stderr
    assert "Point AGENTOPS_HOME at a folder you can write to" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_grpc_port_of_up_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    # up checks its ports before the settings (which would start the embedded database) are loaded.
    result = run_agentops("up", "--port", "0", env=agentops_env(tmp_path / "home", GRPC_PORT="4317x"))

    assert result.returncode == 2
    assert result.stderr.strip() == "agentops: GRPC_PORT must be a whole number, not '4317x'"
    assert not (tmp_path / "home" / "pgdata").exists()


def test_a_bad_option_of_up_prints_usage_before_anything_starts(tmp_path: Path) -> None:
    result = run_agentops("up", "--port", "eighty", env=agentops_env(tmp_path / "home"))

    assert result.returncode == 2
    assert "usage: agentops up" in result.stderr
    assert "invalid int value: 'eighty'" in result.stderr
    assert not (tmp_path / "home").exists()


def test_commands_run_with_good_settings(tmp_path: Path) -> None:
    result = run_agentops("check", env=agentops_env(tmp_path / "home"))

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_sigterm_unwinds_a_command_and_releases_the_embedded_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    popen = subprocess.Popen(
        [sys.executable, "-m", "agentops", "shell", "-c", "print('holding', flush=True); import time; time.sleep(120)"],
        env=agentops_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shell = UpProcess(popen=popen, home=home, port=0)
    assert shell.wait_for_output("holding"), shell.output
    postgres = shell.postgres()
    assert postgres

    popen.send_signal(signal.SIGTERM)

    assert popen.wait(timeout=60) == 143
    assert popen.stderr is not None
    assert "agentops: stopped by SIGTERM" in popen.stderr.read()
    # The shell was the only holder of the embedded server: unwinding ran pgserver's atexit, which stopped it.
    assert_all_gone(postgres)
