"""End to end with real processes, as a team meets it: `agentops up`; an agent process (the Python example,
examples/approvals/agent.py: the OpenTelemetry SDK and agentops.client) whose refund tool asks for
approval and blocks; a reviewer who logs in with chromium, sees the request appear in the inbox, edits
the amount and approves from the keyboard; the agent resumes at once with the edited arguments; the
run's replay shows the APPROVAL step; and `agentops audit verify` finds the project's chain intact.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.agentops.conftest import UpProcess, run_agentops, start_up
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "approvals" / "agent.py"
PASSWORD = "e2e-reviewer-password-7301"
SETUP = f"""
from agentops.tenancy import services
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Role
project = Project.objects.get()
reviewer = services.user_create(email="reviewer@example.com", password={PASSWORD!r})
services.membership_grant(user=reviewer, project=project, role=Role.REVIEWER)
print("slug", project.slug)
print("key", services.ingest_key_create(project=project, name="e2e").secret)
print("token", services.api_token_create(user=reviewer).secret)
"""


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    process = start_up(tmp_path / "home")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


class Agent:
    """The example agent as a process, each line it prints kept with the time it arrived."""

    def __init__(self, up: UpProcess, key: str) -> None:
        env = {
            **up.env(),
            "OTEL_EXPORTER_OTLP_ENDPOINT": up.url(""),
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{key}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        self.popen = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "ORD-7301", "90"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append((time.time(), line))

    def result(self, timeout: float) -> tuple[float, dict[str, Any]]:
        code = self.popen.wait(timeout)
        self._reader.join(10)
        assert self.popen.stderr is not None
        assert code == 0, (code, self.lines, self.popen.stderr.read())
        at, line = self.lines[-1]
        return at, json.loads(line)


def test_an_agent_waits_for_a_reviewer_who_edits_and_approves_in_the_browser(up: UpProcess, browser: Any) -> None:
    made = run_agentops("shell", "-c", SETUP, env=up.env())
    assert made.returncode == 0, made.stderr
    values = dict(line.split(" ", 1) for line in made.stdout.splitlines() if " " in line)
    slug, key = values["slug"], values["key"]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {values['token']}"

    context = browser.new_context(base_url=up.url(""))
    page = context.new_page()
    page.goto("/login/")
    page.fill("input[name=username]", "reviewer@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"/p/{slug}/approvals/")
    page.locator("#approvals-empty").wait_for()

    agent = Agent(up, key)
    row = page.locator("article.approval").first
    row.wait_for(timeout=30_000)  # the agent's request, polled into the open inbox
    assert "ORD-7301" in row.inner_text()
    page.keyboard.press("j")
    page.keyboard.press("e")
    page.keyboard.press("Control+A")
    page.keyboard.type('{"order": "ORD-7301", "amount": 45}')
    screenshot(page, "approvals-e2e-edit")
    page.keyboard.press("Control+Enter")
    page.locator("#inbox-status").get_by_text("with your edit").wait_for()

    resumed_at, result = agent.result(timeout=60)
    # The tool ran with the reviewer's arguments, not the agent's.
    assert result["state"] == "approved" and result["refunded"] == {"order": "ORD-7301", "amount": 45}
    listed = api.get(up.url(f"/api/v1/projects/{slug}/approvals/"), params={"state": "approved"}, timeout=10).json()
    [approval] = listed["results"]
    assert approval["trace_id"] == result["trace_id"] and approval["span_id"] == result["span_id"]
    decided_at = datetime.fromisoformat(approval["decided_at"]).timestamp()
    # Woken by the decision (bench/approvals.py measures how fast), not by the end of a 60 s long-poll
    # or a client's polling.
    print(f"the agent resumed {resumed_at - decided_at:.3f} s after the decision")
    assert resumed_at - decided_at < 5

    # The run, once its spans have landed, shows the approval as a step of its own.
    run_url = up.url(f"/api/v1/projects/{slug}/runs/{result['trace_id']}/")
    deadline = time.monotonic() + 30
    while api.get(run_url, timeout=10).status_code != 200:
        assert time.monotonic() < deadline, up.output[-3000:]
        time.sleep(0.5)
    page.goto(f"/p/{slug}/runs/{result['trace_id']}/")
    step = page.locator(f"#span-tree li.row[data-span='approval-{approval['id']}']")
    step.click()
    panel = page.locator(f"#step-panel .approval-detail[data-span='approval-{approval['id']}']")
    panel.wait_for()
    assert "reviewer@example.com" in panel.inner_text()
    assert '"amount": 45' in panel.locator(".approval-final").inner_text()
    screenshot(page, "approvals-e2e-replay")
    context.close()

    verified = run_agentops("audit", "verify", "--project", slug, env=up.env())
    assert verified.returncode == 0, verified.stdout + verified.stderr
