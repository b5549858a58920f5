"""The step panel in chromium shows a tool's arguments and result with their keys in the order the agent
sent them (the columns were jsonb, which sorted them by length, then bytes). Screenshot:
artifacts/screenshots/replay-key-order.png."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import AgentTrace

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000
ARGUMENTS = {"zeta": 1, "alpha": 2, "order_id": "ORD-7301", "b": {"yy": True, "x": 0}}
RESULT = {"status": "shipped", "eta": "2 days", "carrier": "DHL"}


def _lines(text: str) -> list[str]:
    """The keys of pretty-printed JSON, top to bottom."""
    return [line.strip().split('"')[1] for line in text.splitlines() if line.strip().startswith('"')]


def test_the_step_panel_shows_the_arguments_in_the_order_sent(logged_in_page):
    project = make_project(name="Key order")
    engineer = make_member(project, Role.ENGINEER)
    trace = AgentTrace()
    tool = trace.spans[3]  # root, chat, chat, the tool
    tool.attrs["gen_ai.tool.call.arguments"] = json.dumps(ARGUMENTS)
    tool.attrs["gen_ai.tool.call.result"] = json.dumps(RESULT)
    make_run(project, trace)

    page = logged_in_page(engineer)
    page.goto(reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex}) + "?step=3")
    panel = page.locator(f"#step-panel .step-detail[data-span='{tool.span_id.hex()}']")
    panel.wait_for(timeout=WAIT_MS)
    assert _lines(panel.locator(".tool-args pre").inner_text()) == ["zeta", "alpha", "order_id", "b", "yy", "x"]
    assert _lines(panel.locator(".tool-result pre").inner_text()) == ["status", "eta", "carrier"]
    screenshot(page, "replay-key-order")
