"""`agentops canary` as a CI job runs it: a subprocess talking HTTP to a live server, no database of its own.

Every run points DATABASE_URL at a server that does not exist and AGENTOPS_HOME at an empty folder: a
command that loaded the settings or opened a database would fail or start an embedded PostgreSQL there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from agentops.agents.services import bundles_record
from agentops.tenancy import services
from agentops.tenancy.roles import Role
from tests.agentops.alerts.runs import AGENT, seed
from tests.factories import make_member, make_project

pytestmark = pytest.mark.django_db(transaction=True)

UNREACHABLE_DB = "postgres://mypy@127.0.0.1:1/none"


def canary(home: Path, url: str, token: str, *args: str, probe: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "AGENTOPS_HOME": str(home),
        "DATABASE_URL": UNREACHABLE_DB,
        "AGENTOPS_URL": url,
        "AGENTOPS_TOKEN": token,
    }
    # At exit the child reports whether the settings were ever imported.
    code = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('SETTINGS-LOADED' if 'agentops.settings' in sys.modules else '', file=sys.stderr))\n"
        "from agentops.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    # Without the probe: exactly the console script's entry point, `python -m agentops`.
    command = [sys.executable, "-c", code] if probe else [sys.executable, "-m", "agentops"]
    result = subprocess.run(
        [*command, "canary", *args],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "SETTINGS-LOADED" not in result.stderr
    assert not any(home.iterdir()), f"something was written to AGENTOPS_HOME: {list(home.iterdir())}"
    return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def project_and_token():
    project = make_project()
    token = services.api_token_create(user=make_member(project, Role.VIEWER)).secret
    return project, token


def test_pass_and_fail_exit_codes_with_the_table(live_server, home, project_and_token):
    project, token = project_and_token
    seed(project, "v1", 32, hours_ago=6)
    seed(project, "v2", 32, hours_ago=4)
    seed(project, "v3", 32, hours_ago=2, regressed=True)
    bundles_record()
    args = ("--project", project.slug, "--agent", AGENT)

    passed = canary(home, live_server.url, token, *args, "--candidate", "v2")
    failed = canary(home, live_server.url, token, *args, "--candidate", "v3", "--baseline", "v1")
    as_json = canary(home, live_server.url, token, *args, "--candidate", "v2", "--json", probe=False)

    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.splitlines()[0].split() == ["metric", "verdict", "baseline", "candidate", "effect", "p-value"]
    assert "v2 against v1: pass (score 1.00)" in passed.stdout
    assert failed.returncode == 1, failed.stderr
    assert "v3 against v1: fail" in failed.stdout
    assert "critical metric failed: error_rate" in failed.stdout
    assert "error_rate: 43.8% (14/32) against 0.0% (0/32): +43.8 points" in failed.stdout, failed.stdout
    assert "duration_ms: median 11000 ms against 7000 ms (x1.57, limit x1.20)" in failed.stdout
    assert json.loads(as_json.stdout)["verdict"] == "pass"


def test_too_few_runs_exits_3(live_server, home, project_and_token):
    project, token = project_and_token
    seed(project, "v1", 5, hours_ago=3)
    seed(project, "v2", 5, hours_ago=1)

    result = canary(home, live_server.url, token, "--project", project.slug, "--agent", AGENT, "--candidate", "v2",
                    "--baseline", "v1", "--since", "2000-01-01T00:00:00Z")  # fmt: skip

    assert result.returncode == 3, result.stderr
    assert "inconclusive" in result.stdout and "too few runs" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agent": "nobody"}, "answered 404: no agent named 'nobody' in this project"),
        ({"project": "not-mine"}, "answered 404: No such project"),
        ({"token": "aop_wrong"}, "refused AGENTOPS_TOKEN (401)"),
        ({"token": ""}, "set AGENTOPS_TOKEN"),
        ({"url": "http://127.0.0.1:1"}, "cannot reach agentops at http://127.0.0.1:1"),
        ({"url": ""}, "set AGENTOPS_URL"),
    ],
)
def test_no_verdict_exits_2_with_one_line(live_server, home, project_and_token, change, message):
    project, token = project_and_token
    seed(project, "v1", 1, hours_ago=1)
    url, token = change.get("url", live_server.url), change.get("token", token)

    result = canary(home, url, token, "--project", change.get("project", project.slug),
                    "--agent", change.get("agent", AGENT), "--candidate", "v1")  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.startswith(f"agentops: {message}" if message.startswith("set") else "agentops: "), (
        result.stderr
    )
    assert message in result.stderr
    assert "Traceback" not in result.stderr


class _Fixed(BaseHTTPRequestHandler):
    """A server answering one fixed body: the edge of the world, for answers real runs cannot easily make."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fixed_server() -> Iterator[tuple[HTTPServer, type[_Fixed]]]:
    handler = type("Handler", (_Fixed,), {})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()


def test_marginal_exits_4_and_hostile_names_are_printed_inert(home, fixed_server):
    server, handler = fixed_server
    metric = {
        "name": "tool.\x1b]0;pwned\x07evil.calls", "verdict": "fail", "baseline_n": 40, "candidate_n": 40,
        "baseline_value": 1.0, "candidate_value": 2.0, "effect": 2.0, "p_value": 0.001, "reason": "x2\x1b[2J",
    }  # fmt: skip
    handler.body = json.dumps(
        {"verdict": "marginal", "score": 0.8, "baseline": "v1", "candidate": "v2", "metrics": [metric], "reason": "r"}
    ).encode()
    url = f"http://127.0.0.1:{server.server_port}"

    result = canary(home, url, "t", "--project", "p", "--agent", "a", "--candidate", "v2")

    assert result.returncode == 4
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "tool.]0;pwnedevil.calls" in result.stdout


def test_an_answer_that_is_not_json_exits_2(home, fixed_server):
    server, handler = fixed_server
    handler.body = b"<html>a proxy's page</html>"

    result = canary(home, f"http://127.0.0.1:{server.server_port}", "t", "--project", "p", "--agent", "a",
                    "--candidate", "v2")  # fmt: skip

    assert result.returncode == 2
    assert "did not answer with JSON" in result.stderr
