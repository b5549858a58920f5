"""The examples in examples/approvals, run as a user runs them against a real `agentops web` (gunicorn
on the test database): the Node.js agent (the OpenTelemetry JS SDK, fetch) and the Python agent (the
OpenTelemetry Python SDK, agentops.client) each export their run over OTLP, ask for approval from their
tool call's span and block; the test decides as a reviewer; the agent prints the decision and its run
holds the tool step the request names.

The Node project is examples/approvals (exact pins in its package-lock.json); `npm ci` runs when its
node_modules is missing, so a fresh clone needs only `node` and `npm` on the PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client

from agentops.approvals import services
from agentops.approvals.models import ApprovalRequest
from agentops.tenancy.services import api_token_create, ingest_key_create
from tests.agentops.conftest import UpProcess
from tests.conftest import Personas
from tests.traces.servers import serve

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "approvals"
DEADLINE = 120.0  # for one agent process (normally a few seconds, most of it starting Node or Python)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"`{name}` is not on the PATH: this test runs the Node.js example"
    return path


@pytest.fixture(scope="module")
def node_example() -> Path:
    if not (EXAMPLES / "node_modules").is_dir():
        subprocess.run([_tool("npm"), "ci", "--no-audit", "--no-fund"], cwd=EXAMPLES, check=True, timeout=600)
    return EXAMPLES


@pytest.fixture(scope="module")
def web(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    def healthy(process: UpProcess) -> bool:
        try:
            return requests.get(process.url("/healthz"), timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    home = tmp_path_factory.mktemp("web") / "home"
    with serve("web", home, "--workers", "1", "--threads", "2", ready=healthy) as process:
        yield process


def _start(command: list[str], web: UpProcess, key: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTOPS_URL", "AGENTOPS_INGEST"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=web.url(""),
        OTEL_EXPORTER_OTLP_HEADERS=f"Authorization=Bearer%20{key}",
        PYTHONPATH=str(ROOT),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _asked(personas: Personas, agent: subprocess.Popen[str]) -> ApprovalRequest:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        found = ApprovalRequest.objects.filter(project=personas.project).first()
        if found is not None:
            return found
        if agent.poll() is not None:
            pytest.fail(f"the agent exited with {agent.returncode} before asking: {agent.communicate()}")
        time.sleep(0.1)
    agent.kill()
    pytest.fail(f"no approval request within {DEADLINE} s: {agent.communicate()}")


def _finished(agent: subprocess.Popen[str], web: UpProcess) -> tuple[int, dict[str, Any]]:
    try:
        out, err = agent.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        agent.kill()
        pytest.fail(f"the agent did not finish: {agent.communicate()}\n{web.output[-3000:]}")
    assert out.strip(), (err[-3000:], web.output[-3000:])
    return agent.returncode, json.loads(out.strip().splitlines()[-1])


def _tool_step(personas: Personas, trace_id: str, span_id: str) -> dict[str, Any]:
    """The run's step `span_id`, read back through the REST API as an engineer."""
    token = api_token_create(user=personas.engineer).secret
    url = f"/api/v1/projects/{personas.project.slug}/runs/{trace_id}/steps/{span_id}/"
    end = time.monotonic() + DEADLINE
    while True:  # the agent's exporter sent the run as it exited; ingest may still be writing it
        response = Client().get(url, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 200 or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert response.status_code == 200, response.content[:500]
    step: dict[str, Any] = response.json()
    return step


def test_the_node_agent_waits_for_the_decision_and_uses_the_edit(
    node_example: Path, web: UpProcess, personas: Personas
) -> None:
    key = ingest_key_create(project=personas.project).secret
    agent = _start([_tool("node"), str(node_example / "agent.mjs"), "A-100", "300"], web, key)
    asked = _asked(personas, agent)
    assert (asked.action, asked.arguments, asked.risk) == ("refund", {"order": "A-100", "amount": 300}, "high")
    assert len(asked.trace_id) == 32 and asked.span_id and len(asked.span_id) == 16
    assert agent.poll() is None  # blocked on the decision
    services.approval_decide(
        project=personas.project,
        approval_id=asked.pk,
        reviewer=personas.reviewer,
        decision="approve",
        comment="they paid 30",
        arguments={"order": "A-100", "amount": 30},
    )

    code, printed = _finished(agent, web)
    assert code == 0, printed
    assert (printed["id"], printed["state"], printed["edited"]) == (asked.pk, "approved", True)
    assert printed["arguments"] == {"order": "A-100", "amount": 30}
    assert printed["original_arguments"] == {"order": "A-100", "amount": 300}
    assert [(d["reviewer"], d["comment"]) for d in printed["decisions"]] == [(personas.reviewer.email, "they paid 30")]
    assert (printed["trace_id"], printed["span_id"]) == (asked.trace_id, asked.span_id)
    step = _tool_step(personas, asked.trace_id, asked.span_id)
    assert (step["kind"], step["tool_name"]) == ("TOOL", "refund")
    assert step["output"] == {"refunded": {"order": "A-100", "amount": 30}}


def test_the_python_agent_is_denied_on_a_rejection(web: UpProcess, personas: Personas) -> None:
    key = ingest_key_create(project=personas.project).secret
    agent = _start([sys.executable, str(EXAMPLES / "agent.py"), "A-200", "900"], web, key)
    asked = _asked(personas, agent)
    assert (asked.action, asked.arguments, asked.summary) == (
        "refund",
        {"order": "A-200", "amount": 900},
        "Refund 900 on order A-200",
    )
    assert agent.poll() is None
    services.approval_decide(
        project=personas.project,
        approval_id=asked.pk,
        reviewer=personas.reviewer,
        decision="reject",
        comment="over the limit",
    )

    code, printed = _finished(agent, web)
    assert code == 1 and printed["state"] == "rejected" and "over the limit" in printed["error"]
    assert (printed["trace_id"], printed["span_id"]) == (asked.trace_id, asked.span_id)
    step = _tool_step(personas, printed["trace_id"], printed["span_id"])
    assert (step["kind"], step["tool_name"], step["output"]) == ("TOOL", "refund", None)
