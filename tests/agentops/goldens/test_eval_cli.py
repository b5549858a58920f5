"""`agentops eval` as a CI job runs it: a subprocess with no database of its own, a real `agentops web`, and
an agent whose traces go through the real OTel SDK exporter.

Every run points DATABASE_URL at a server that does not exist and AGENTOPS_HOME at an empty folder: a
command that loaded the settings or opened a database would fail or start an embedded PostgreSQL there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from agentops.goldens.services import case_add, golden_set_create
from agentops.tenancy import services
from agentops.tenancy.roles import Role
from tests.agentops.conftest import UpProcess
from tests.factories import make_member, make_project
from tests.traces.conftest import make_engineer, setup_for
from tests.traces.servers import serve

UNREACHABLE_DB = "postgres://mypy@127.0.0.1:1/none"
WORKTREE = Path(__file__).resolve().parents[3]
AGENT = Path(__file__).with_name("eval_agent.py")
ASSERTIONS = [{"type": "equals", "value": "shipped"}, {"type": "tools_called", "tools": ["lookup_order"]}]


def evaluate(home: Path, url: str, token: str, *args: str, ingest_key: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(WORKTREE),
        "AGENTOPS_HOME": str(home),
        "DATABASE_URL": UNREACHABLE_DB,
        "AGENTOPS_URL": url,
        "AGENTOPS_TOKEN": token,
        "AGENTOPS_INGEST_KEY": ingest_key,
    }
    # At exit the child reports whether the settings (or Django) were ever imported.
    code = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('SETTINGS-LOADED' if {'agentops.settings', 'django.conf'} & set(sys.modules) else '', file=sys.stderr))\n"
        "from agentops.cli import main\n"
        "main(sys.argv[1:])\n"
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", code, "eval", *args],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=home.parent,
    )  # fmt: skip
    assert "SETTINGS-LOADED" not in result.stderr
    assert not any(home.iterdir()), f"something was written to AGENTOPS_HOME: {list(home.iterdir())}"
    return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "cli-home"
    path.mkdir()
    return path


def _golden_set(project, cases=2):
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    return [
        case_add(golden_set=golden_set, user=None, data={"input": {"question": f"order {i}?"}, "assertions": ASSERTIONS},
                 payloads=True).case_key
        for i in range(cases)
    ]  # fmt: skip


def _healthy(process: UpProcess) -> bool:
    try:
        return requests.get(process.url("/healthz"), timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.slow
def test_a_passing_agent_exits_0_and_one_calling_the_wrong_tool_exits_1_naming_case_and_assertion(
    transactional_db, tmp_path, home
):
    project = make_project()
    setup = setup_for(project, make_engineer(project))
    first, second = _golden_set(project)
    (tmp_path / "agentops-eval.toml").write_text('[gate]\ntask_success = 1.0\n"accuracy.tools_called" = 1.0\n')
    junit_file, summary_file = tmp_path / "junit.xml", tmp_path / "summary.md"
    common = ("--project", project.slug, "--set", "smoke", "--concurrency", "2", "--wait-traces", "60")
    with serve("web", tmp_path / "web-home", "--workers", "1", ready=_healthy) as web:
        url = web.url("").rstrip("/")
        passed = evaluate(home, url, setup.token, *common, "--bundle", "v1", "--cmd", f"{sys.executable} {AGENT}",
                          "--config", str(tmp_path / "agentops-eval.toml"), ingest_key=setup.key)  # fmt: skip
        failed = evaluate(home, url, setup.token, *common, "--bundle", "v2", "--baseline", "v1",
                          "--cmd", f"{sys.executable} {AGENT} cancel_order", "--junit", str(junit_file),
                          "--summary", str(summary_file), ingest_key=setup.key)  # fmt: skip

    assert passed.returncode == 0, passed.stdout + passed.stderr
    header, *lines = passed.stdout.splitlines()
    assert header.split() == ["case", "verdict", "failed", "assertion", "latency", "cost", "run"]
    # Each case was scored on its own run, found by its tags: a link to that run's replay.
    assert all(f"{url}/p/{project.slug}/runs/" in line for line in lines[:2]), passed.stdout
    assert "v1 on smoke v2: pass" in passed.stdout

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "v2 on smoke v2: fail" in failed.stdout
    assert f"{first}  fail     tools_called: failed" in failed.stdout, failed.stdout
    suite = ET.parse(junit_file).getroot()
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert set(failures) == {first, second, "gate"}
    failure = failures[first]
    assert failure is not None and failure.get("message") == f"{first}: tools_called: failed"
    assert f"/p/{project.slug}/runs/" in (failure.text or "")
    assert "lookup_order (expected call 1) missing; called cancel_order" in (failure.text or "")  # the scorer's reason
    markdown = summary_file.read_text()
    assert "agentops eval: fail" in markdown and "against v1" in markdown
    assert f"| {first} | fail | tools\\_called: failed |" in markdown
    assert f"]({url}/p/{project.slug}/runs/" in markdown


@pytest.mark.django_db(transaction=True)
def test_own_errors_exit_2_with_one_clear_line(live_server, home, tmp_path):
    project = make_project()
    _golden_set(project, cases=1)
    engineer = services.api_token_create(user=make_member(project, Role.ENGINEER)).secret
    viewer = services.api_token_create(user=make_member(project, Role.VIEWER)).secret
    (tmp_path / "bad.toml").write_text("[gate]\ntask_sucess = 0.9\n")
    agent = f"{sys.executable} {AGENT}"
    cases = [
        (live_server.url, "aop_wrong", agent, (), "refused AGENTOPS_TOKEN (401)"),
        (live_server.url, viewer, agent, (), "may manage golden sets in that project"),
        (live_server.url, engineer, "no-such-agent-binary --x", (), "command not found: no-such-agent-binary"),
        (live_server.url, engineer, agent, ("--config", str(tmp_path / "bad.toml")), "gate.task_sucess: unknown"),
        (live_server.url, engineer, agent, ("--set", "smoke@x"), "give NAME or NAME@VERSION"),
        ("http://127.0.0.1:1", engineer, agent, (), "cannot reach agentops at http://127.0.0.1:1"),
        ("", engineer, agent, (), "set AGENTOPS_URL"),
    ]
    for url, token, command, extra, message in cases:
        result = evaluate(home, url, token, "--project", project.slug, "--set", "smoke", "--bundle", "v1",
                          "--cmd", command, *extra)  # fmt: skip
        assert result.returncode == 2, (message, result.stdout, result.stderr)
        assert message in result.stderr, (message, result.stderr)
        assert "Traceback" not in result.stderr


def test_the_agent_gets_its_tags_and_the_ingest_key_merged_into_its_environment():
    from agentops.goldens.cli import agent_env

    base = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=bot,agentops.eval.case=stale", "HOME": os.environ.get("HOME", "")}
    env = agent_env(base, "http://ao:8000/", "aok_1/2", 7, "case,1=x", 2, "v 3")

    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://ao:8000"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "x-api-key=aok_1%2F2"
    # As the OTel SDK reads the variable (the last of a key wins; values percent-decoded).
    from opentelemetry.sdk.resources import OTELResourceDetector

    os.environ["OTEL_RESOURCE_ATTRIBUTES"], saved = (
        env["OTEL_RESOURCE_ATTRIBUTES"],
        os.environ.get("OTEL_RESOURCE_ATTRIBUTES"),
    )
    try:
        attributes = dict(OTELResourceDetector().detect().attributes)
    finally:
        os.environ.pop("OTEL_RESOURCE_ATTRIBUTES")
        if saved is not None:
            os.environ["OTEL_RESOURCE_ATTRIBUTES"] = saved
    assert attributes == {
        "service.name": "bot", "agentops.eval.run": "7", "agentops.eval.case": "case,1=x",
        "agentops.eval.attempt": "2", "agentops.bundle.id": "v 3",
    }  # fmt: skip


def test_reports_keep_hostile_names_inert():
    from agentops.goldens.cli import junit, summary, table

    hostile = "</failure><x>|\x1b[2J[a](javascript:alert(1))"
    body = {
        "set": "smoke", "version": 1, "bundle": "v2", "baseline": None, "verdict": "fail",
        "reasons": [{"kind": "threshold", "message": f"case {hostile} failed"}],
        "cases": [{"case_key": hostile, "passed": False, "attempts": [{
            "attempt": 1, "passed": False, "latency_ms": 1200.4, "cost_usd": 0.01, "run_url": "http://ao/p/x/runs/ab/",
            "outcomes": [{"type": "equals", "name": hostile, "status": "failed", "reason": hostile}],
        }]}],
    }  # fmt: skip

    printed = table(body)
    markdown = summary(body)
    suite = ET.fromstring(junit(body))

    assert "\x1b" not in printed and "1200 ms" in printed and "$0.0100" in printed
    row = next(line for line in markdown.splitlines() if line.startswith("| \\<"))
    assert row.count(" | ") == 5  # the hostile name did not add a column
    assert "<x>" not in markdown and "[a](javascript" not in markdown and "[run](http://ao/p/x/runs/ab/)" in row
    failure = next(c for c in suite.iter("testcase") if c.get("name") != "gate").find("failure")
    assert failure is not None and hostile.replace("\x1b", "") in (failure.text or "").replace("\x1b", "")
    assert len(list(suite.iter("testcase"))) == 2
