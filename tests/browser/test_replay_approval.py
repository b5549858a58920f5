"""An approval request in chromium: the APPROVAL step in the replay's tree under the tool call that asked,
reached with the keyboard and by a click, its panel (decisions, wait, the arguments as asked and as
edited), its bar in the waterfall; and the run list's "waiting for approval" mark.

Screenshots: artifacts/screenshots/replay-approval-*.png and run-list-waiting.png.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from agentops.approvals.services import approval_decide, approval_request_create
from agentops.tenancy import services
from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import AgentTrace

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000


def ask(project, trace: AgentTrace, **data):
    key = services.ingest_key_create(project=project).key
    body = {"action": "refund", "arguments": {"order": "A-100", "amount": 4990}, "trace_id": trace.trace_hex, **data}
    return approval_request_create(project=project, data=body, key=key)[0]


def test_the_approval_step_opens_its_panel_from_the_keyboard_and_the_tree(logged_in_page):
    project = make_project(name="Approvals in replay")
    engineer = make_member(project, Role.ENGINEER)
    reviewer = make_member(project, Role.REVIEWER)
    # Tree order: root, chat, chat, execute_tool lookup_order, then the request under the tool call.
    run = make_run(project, AgentTrace(llm_calls=2))
    approval = ask(project, run, span_id=run.spans[3].span_id.hex(), summary="Full refund")
    approval_decide(
        project=project,
        approval_id=approval.pk,
        reviewer=reviewer,
        decision="approve",
        comment="halve it",
        arguments={"order": "A-100", "amount": 2495},
    )
    page = logged_in_page(engineer)
    page.goto(reverse("run_replay", kwargs={"slug": project.slug, "trace_id": run.trace_hex}))
    page.locator("#step-panel .step-detail[data-index='0']").wait_for(timeout=WAIT_MS)
    page.locator("#waterfall .main-svg").first.wait_for(timeout=WAIT_MS)
    row = page.locator(f"#span-tree li.row[data-span='approval-{approval.pk}']")
    assert row.is_visible() and "APPROVAL" in row.inner_text() and "approved" in row.inner_text()

    for _ in range(4):
        page.keyboard.press("j")
    panel = page.locator(f"#step-panel .approval-detail[data-span='approval-{approval.pk}']")
    panel.wait_for(timeout=WAIT_MS)
    assert page.locator("#step-counter").inner_text() == "5 / 5"
    text = panel.inner_text()
    assert reviewer.email in text and "halve it" in text and "Agent waited" in text
    assert '"amount": 4990' in panel.locator(".approval-args").inner_text()
    assert '"amount": 2495' in panel.locator(".approval-final").inner_text()
    assert "execute_tool lookup_order" in text  # the step that asked
    href = panel.locator("a.approval-link").get_attribute("href")
    assert href == f"/p/{project.slug}/approvals/{approval.pk}/"
    # The waterfall has its bar, labelled with its state, and marks it as current.
    assert page.evaluate("document.getElementById('waterfall').data[0].text[4]") == "APPROVAL refund (approved)"
    # Step 5 of 5 (index 4): its row, numbered from 1 as the counter counts, spans 4.5 to 5.5.
    assert page.evaluate("document.getElementById('waterfall').layout.shapes[0].y0") == 4.5
    screenshot(page, "replay-approval-panel")

    # Back to a span's panel and to the request again by a click on its row.
    page.keyboard.press("k")
    page.locator(f"#step-panel .step-detail[data-span='{run.spans[3].span_id.hex()}']").wait_for(timeout=WAIT_MS)
    row.click()
    panel.wait_for(timeout=WAIT_MS)
    assert "step=4" in page.url


def test_the_run_list_marks_the_run_waiting_and_the_replay_shows_it_before_any_span(logged_in_page):
    project = make_project(name="Waiting runs")
    viewer = make_member(project, Role.VIEWER)
    quiet = make_run(project, AgentTrace(agent="quiet-bot"))
    waiting = make_run(project, AgentTrace(agent="waiting-bot"))
    ask(project, waiting, span_id=waiting.spans[3].span_id.hex())
    page = logged_in_page(viewer)
    page.goto(reverse("run_list", kwargs={"slug": project.slug}))
    mark = page.locator(f"tr[data-trace='{waiting.trace_hex}'] .badge.waiting-approval")
    mark.wait_for(timeout=WAIT_MS)
    assert mark.inner_text() == "waiting for approval"
    assert page.locator(f"tr[data-trace='{quiet.trace_hex}'] .badge.waiting-approval").count() == 0
    page.select_option("select[name=approval]", "pending")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**approval=pending**", timeout=WAIT_MS)
    assert page.locator("tr.run").count() == 1
    screenshot(page, "run-list-waiting")

    # A request whose spans have not arrived: the replay shows it alone, and its panel opens.
    early = AgentTrace()
    pending = ask(project, early, span_id=early.spans[3].span_id.hex())
    page.goto(reverse("run_replay", kwargs={"slug": project.slug, "trace_id": early.trace_hex}))
    panel = page.locator(f"#step-panel .approval-detail[data-span='approval-{pending.pk}']")
    panel.wait_for(timeout=WAIT_MS)
    assert "waiting" in panel.inner_text() and "hidden" in panel.inner_text()  # a Viewer: no arguments
    assert "No span of this run has arrived yet" in page.locator(".run-head").inner_text()
    screenshot(page, "replay-approval-before-spans")
