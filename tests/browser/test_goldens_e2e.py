"""End to end with real processes, the golden sets flywheel as a team meets it: `agentops up`; a shop
agent (tests/browser/shop_agent.py: the OpenTelemetry SDK and its OTLP/HTTP exporter) fails in
production three times; an engineer filters the failed runs in chromium and promotes two of them into a
new golden set in bulk, and the third through the REST API; then `agentops eval`, HTTP only, runs the
fixed agent on the set (exit 0) and an agent that calls the wrong tool (exit 1, its JUnit file and
summary naming the case, the assertion and the run); both eval runs are in the UI, linked to the traces.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.agentops.conftest import UpProcess, run_agentops, start_up
from tests.agentops.goldens.test_eval_cli import evaluate
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.slow

AGENT = Path(__file__).with_name("shop_agent.py")
PASSWORD = "e2e-engineer-password-7301"
SETUP = f"""
from agentops.tenancy import services
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Role
project = Project.objects.get()
engineer = services.user_create(email="engineer@example.com", password={PASSWORD!r})
services.membership_grant(user=engineer, project=project, role=Role.ENGINEER)
print("slug", project.slug)
print("key", services.ingest_key_create(project=project, name="e2e").secret)
print("token", services.api_token_create(user=engineer).secret)
"""
ASSERTIONS = [{"type": "equals", "value": "shipped"}, {"type": "tools_called", "tools": ["lookup_order"]}]
WAIT_MS = 30_000


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    process = start_up(tmp_path / "home")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def in_production(up: UpProcess, key: str, question: str) -> None:
    """One production run of the agent whose order service times out."""
    env = {
        **up.env(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": up.url(""),
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{key}",
    }
    done = subprocess.run(
        [sys.executable, str(AGENT), "lookup_order", "fail"],
        input=json.dumps({"question": question}), env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def failed_runs(api: requests.Session, up: UpProcess, slug: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        runs = api.get(up.url(f"/api/v1/projects/{slug}/runs/"), params={"status": "error"}, timeout=10).json()
        if len(runs["results"]) >= count:
            return runs["results"]
        assert time.monotonic() < deadline, (runs, up.output[-3000:])
        time.sleep(0.5)


def test_failed_runs_become_golden_cases_and_the_gate_blocks_the_agent_that_calls_the_wrong_tool(
    up: UpProcess, browser: Any, tmp_path: Path
) -> None:
    made = run_agentops("shell", "-c", SETUP, env=up.env())
    assert made.returncode == 0, made.stderr
    values = dict(line.split(" ", 1) for line in made.stdout.splitlines() if " " in line)
    slug, key, token = values["slug"], values["key"], values["token"]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"

    for order in ("ORD-7301", "ORD-7302", "ORD-7303"):
        in_production(up, key, f"Where is my order {order}?")
    oldest = failed_runs(api, up, slug, 3)[-1]

    # The engineer promotes the newest two failed runs from the filtered run list, in bulk.
    context = browser.new_context(base_url=up.url(""))
    page = context.new_page()
    page.goto("/login/")
    page.fill("input[name=username]", "engineer@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"/p/{slug}/runs/?status=error")
    page.get_by_role("link", name="Add these runs to a golden set").click()
    page.locator("#bulk-summary").wait_for(timeout=WAIT_MS)
    assert "3 runs match" in page.locator("#bulk-summary").inner_text()
    page.locator("#cap-preview").fill("2")
    page.get_by_role("button", name="Update preview").click()
    page.locator("#new-set").wait_for(timeout=WAIT_MS)
    page.locator("#new-set").fill("order-failures")
    page.locator("#assertions").fill(json.dumps(ASSERTIONS))
    screenshot(page, "goldens-e2e-bulk")
    page.get_by_role("button", name="Add 2 runs as one new version").click()
    page.locator("#shown-version").wait_for(timeout=WAIT_MS)
    assert page.locator("tr.case").count() == 2

    # The third through the API: its input taken from the run, as the UI takes it.
    added = api.post(
        up.url(f"/api/v1/projects/{slug}/golden-sets/order-failures/cases/"),
        json={"source_trace_id": oldest["trace_id"], "assertions": [*ASSERTIONS, {"type": "no_error"}]},
        timeout=10,
    )
    assert added.status_code == 201, added.text
    assert "ORD-7301" in json.dumps(added.json()["input"])
    golden = api.get(up.url(f"/api/v1/projects/{slug}/golden-sets/order-failures/"), timeout=10).json()
    assert (golden["version"], golden["case_count"]) == (2, 3)

    # CI: `agentops eval`, HTTP only (the helper checks no settings are loaded and nothing is written).
    home = tmp_path / "ci-home"
    home.mkdir()
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    common = ("--project", slug, "--set", "order-failures", "--wait-traces", "60")
    fixed = evaluate(home, up.url(""), token, *common, "--bundle", "fixed-1",
                     "--cmd", f"{sys.executable} {AGENT}", ingest_key=key)  # fmt: skip
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    wrong = evaluate(home, up.url(""), token, *common, "--bundle", "wrong-2", "--baseline", "fixed-1",
                     "--cmd", f"{sys.executable} {AGENT} cancel_order", "--junit", str(junit),
                     "--summary", str(summary), ingest_key=key)  # fmt: skip
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    failures = {c.get("name"): c.find("failure") for c in ET.parse(junit).getroot().iter("testcase")}
    cases = [name for name in failures if name != "gate"]
    assert len(cases) == 3
    for name in cases:
        failure = failures[name]
        assert failure is not None and failure.get("message") == f"{name}: tools_called: failed"
        assert "called cancel_order" in (failure.text or "") and f"/p/{slug}/runs/" in (failure.text or "")
    markdown = summary.read_text()
    assert "agentops eval: fail" in markdown and "against fixed-1" in markdown
    assert f"({up.url('')}/p/{slug}/runs/" in markdown

    # Both eval runs are in the UI; a failing case links to the trace of the run it was scored on.
    page.goto(f"/p/{slug}/evals/?set=order-failures")
    rows = page.locator("table tbody tr[id^=eval-run-]")
    rows.first.wait_for(timeout=WAIT_MS)
    assert rows.count() == 2
    assert "wrong-2" in rows.first.inner_text() and "fixed-1" in rows.nth(1).inner_text()
    rows.first.locator("a").first.click()
    failing = page.locator("tr.case-fail")
    failing.first.wait_for(timeout=WAIT_MS)
    assert failing.count() == 3
    assert "tools_called" in failing.first.inner_text()
    screenshot(page, "goldens-e2e-eval-run")
    failing.first.locator("a.replay").click()
    page.locator("#span-tree").wait_for(timeout=WAIT_MS)
    assert "cancel_order" in page.locator("#span-tree").inner_text()
    context.close()
