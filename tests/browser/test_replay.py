"""The replay and compare pages in chromium: the player (keyboard, buttons, scrubber), the lazily fetched
step panel with the tool's arguments, jump to first error, collapsed loops, and the divergence mark.

Runs are stored through the real ingest pipeline (tests.factories.make_run). Screenshots:
artifacts/screenshots/replay-*.png and compare-*.png.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.urls import reverse

from agentops.tenancy.roles import Role
from tests.browser.conftest import _session_cookie, screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import NS, AgentTrace, SpanSpec

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000


def replay_url(project, trace: AgentTrace) -> str:
    return reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})


def panel_of(page, trace: AgentTrace, position: int):
    return page.locator(f"#step-panel .step-detail[data-span='{trace.spans[position].span_id.hex()}']")


def test_step_through_a_run_with_the_keyboard_to_the_tool_arguments(logged_in_page):
    project = make_project(name="Replay project")
    engineer = make_member(project, Role.ENGINEER)
    # Tree order: root, chat, chat, execute_tool lookup_order (failed).
    run = make_run(project, AgentTrace(llm_calls=2, tool_error=True))
    page = logged_in_page(engineer)
    page.goto(replay_url(project, run))
    panel_of(page, run, 0).wait_for(timeout=WAIT_MS)
    page.locator("#waterfall .main-svg").first.wait_for(timeout=WAIT_MS)
    assert page.locator("#span-tree li.row.current").get_attribute("data-index") == "0"
    screenshot(page, "replay-first-step")

    page.keyboard.press("j")
    panel_of(page, run, 1).wait_for(timeout=WAIT_MS)
    assert "Where is order 100?" in page.locator("#step-panel").inner_text()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("j")
    tool = panel_of(page, run, 3)
    tool.wait_for(timeout=WAIT_MS)
    assert '"order": 100' in tool.locator(".tool-args").inner_text()
    assert '"status": "shipped"' in tool.locator(".tool-result").inner_text()
    assert page.locator("#step-counter").inner_text() == "4 / 4"
    assert page.locator("#span-tree li.row.current").get_attribute("data-index") == "3"
    # The waterfall marks the current step's row, numbered as the counter counts (from 1).
    assert page.evaluate("document.getElementById('waterfall').layout.shapes[0].y0") == 3.5
    assert sorted(int(t) for t in page.locator("#waterfall .ytick text").all_text_contents()) == [1, 2, 3, 4]
    screenshot(page, "replay-tool-step")

    page.keyboard.press("k")
    panel_of(page, run, 2).wait_for(timeout=WAIT_MS)
    page.get_by_role("button", name="Prev").click()
    panel_of(page, run, 1).wait_for(timeout=WAIT_MS)
    page.locator("#scrubber").fill("0")
    panel_of(page, run, 0).wait_for(timeout=WAIT_MS)
    assert page.locator("#step-counter").inner_text() == "1 / 4"
    # With the scrubber focused, its arrow keys move one step (not two) and j still works.
    page.locator("#scrubber").focus()
    page.keyboard.press("ArrowRight")
    panel_of(page, run, 1).wait_for(timeout=WAIT_MS)
    page.keyboard.press("j")
    panel_of(page, run, 2).wait_for(timeout=WAIT_MS)
    assert page.locator("#step-counter").inner_text() == "3 / 4"

    page.get_by_role("button", name="Jump to first error").click()
    panel_of(page, run, 3).wait_for(timeout=WAIT_MS)
    assert "lookup failed" in page.locator("#step-panel .exception").inner_text()
    assert "step=3" in page.url
    screenshot(page, "replay-first-error")


def test_jump_to_first_error_goes_to_the_failing_tool_when_the_root_failed_too(logged_in_page):
    project = make_project(name="Root error project")
    engineer = make_member(project, Role.ENGINEER)
    agent = "order-support-agent-with-a-long-name-" * 4
    trace = AgentTrace(agent=agent, llm_calls=1, tool_error=True)  # root, chat, execute_tool (failed)
    trace.spans[0].error = "agent gave up"  # the root inherits its tool's failure, as agents report it
    run = make_run(project, trace)
    page = logged_in_page(engineer)
    page.goto(replay_url(project, run))
    panel_of(page, run, 0).wait_for(timeout=WAIT_MS)
    # The tree cuts the long name; its tooltip is the whole name.
    assert page.locator("#span-tree li.row[data-index='0'] .name").get_attribute("title") == f"invoke_agent {agent}"
    page.get_by_role("button", name="Jump to first error").click()
    panel_of(page, run, 2).wait_for(timeout=WAIT_MS)
    assert "lookup failed" in page.locator("#step-panel .exception").inner_text()
    page.keyboard.press("k")
    page.keyboard.press("k")
    panel_of(page, run, 0).wait_for(timeout=WAIT_MS)
    page.keyboard.press("e")
    panel_of(page, run, 2).wait_for(timeout=WAIT_MS)
    assert page.locator("#step-counter").inner_text() == "3 / 3"


def test_long_values_wrap_inside_the_panel_and_very_long_ones_show_all_on_demand(logged_in_page):
    project = make_project(name="Long values")
    engineer = make_member(project, Role.ENGINEER)
    trace = AgentTrace(llm_calls=1, tool_error=True)  # root, chat, execute_tool (failed)
    tool = trace.spans[2]
    tool.attrs["gen_ai.tool.call.result"] = json.dumps({"blob": "x" * 1_000_000})  # one unbreakable line
    tool.error = "E" * 2_000
    trace.spans[1].attrs["gen_ai.input.messages"] = json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "m" * 1_000_000}]}]
    )
    run = make_run(project, trace)
    page = logged_in_page(engineer)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(replay_url(project, run) + "?step=2")
    panel = panel_of(page, run, 2)
    panel.wait_for(timeout=WAIT_MS)
    # Nothing is wider than the window: the exception and the result wrap or scroll in their boxes.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert panel.bounding_box()["width"] < 1280
    assert page.locator("#step-panel .exception").bounding_box()["width"] < 1280
    # The result is cut, with how much is left and "show all", which loads the whole value in place.
    result = panel.locator(".tool-result")
    assert len(result.locator("pre").inner_text()) < 20_000
    assert "more characters" in result.inner_text()
    result.get_by_role("link", name="Show all").click()
    panel.locator(".tool-result .show-all").wait_for(state="detached", timeout=WAIT_MS)
    assert page.evaluate("document.querySelector('#step-panel .tool-result pre').textContent.length") > 1_000_000
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    # The 1 MB message of the chat step: cut too, and the page keeps its width.
    page.keyboard.press("k")
    chat = panel_of(page, run, 1)
    chat.wait_for(timeout=WAIT_MS)
    assert "more characters" in chat.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "replay-long-values")


def test_a_repeated_loop_is_collapsed_until_opened_or_reached(logged_in_page):
    project = make_project(name="Loop project")
    engineer = make_member(project, Role.ENGINEER)
    run = make_run(project, AgentTrace(llm_calls=6))  # root, chat x 6, tool
    page = logged_in_page(engineer)
    page.goto(replay_url(project, run))
    panel_of(page, run, 0).wait_for(timeout=WAIT_MS)
    header = page.locator("#span-tree li.loop")
    assert "\u00d7 6" in header.inner_text()  # the multiplication sign
    assert not page.locator("#span-tree li.row[data-index='3']").is_visible()
    screenshot(page, "replay-loop-collapsed")
    header.locator(".toggle").click()
    assert page.locator("#span-tree li.row[data-index='3']").is_visible()
    header.locator(".toggle").click()
    assert not page.locator("#span-tree li.row[data-index='3']").is_visible()
    # Stepping into the loop opens it.
    page.keyboard.press("j")
    panel_of(page, run, 1).wait_for(timeout=WAIT_MS)
    assert page.locator("#span-tree li.row[data-index='1']").is_visible()


def test_a_viewer_steps_through_without_payloads(logged_in_page):
    project = make_project(name="Viewer replay")
    viewer = make_member(project, Role.VIEWER)
    run = make_run(project, AgentTrace(llm_calls=1))
    page = logged_in_page(viewer)
    page.goto(replay_url(project, run) + "?step=2")
    tool = panel_of(page, run, 2)
    tool.wait_for(timeout=WAIT_MS)
    assert tool.locator(".no-payloads").is_visible()
    assert tool.locator(".tool-args").count() == 0
    assert "shipped" not in page.content()
    screenshot(page, "replay-viewer")


def test_compare_marks_where_two_runs_diverge(logged_in_page):
    project = make_project(name="Compare project")
    engineer = make_member(project, Role.ENGINEER)
    a = make_run(project, AgentTrace(llm_calls=2))
    b = make_run(project, AgentTrace(llm_calls=3))
    page = logged_in_page(engineer)
    page.goto(replay_url(project, a))
    page.get_by_role("link", name="Compare with…").click()
    page.locator("#cmp-b").fill(b.trace_hex)
    page.get_by_role("button", name="Compare").click()
    marked = page.locator("table.compare-table tr.diverge")
    marked.wait_for(timeout=WAIT_MS)
    # B's third chat faces a gap in A; the tools after it stay aligned.
    assert "not in A" in marked.inner_text() and "chat gpt-4o" in marked.inner_text()
    assert "They diverge at row 4." in page.locator(".divergence-summary").inner_text()
    screenshot(page, "compare-divergence")


def _with_tool(trace: AgentTrace, tool: str, arguments: dict) -> AgentTrace:
    """`trace` with one more tool call after its last step."""
    last = trace.spans[-1]
    attrs = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.arguments": json.dumps(arguments),
        "gen_ai.tool.call.result": json.dumps({"ok": True}),
    }
    start = last.end_ns + NS // 10
    trace.spans.append(
        SpanSpec(f"execute_tool {tool}", attrs, parent=trace.spans[0].span_id, start_ns=start, end_ns=start + NS // 10)
    )
    trace.spans[0].end_ns = start + NS
    return trace


def test_compare_aligns_by_structure_and_diffs_the_arguments_in_their_row(logged_in_page, browser, live_server):
    """Run B looked up another order (arguments differ, the cells read the same) and then refunded where
    A notified: the divergence is the other tool, and the lookup's row shows the arguments' diff."""
    project = make_project(name="Compare bundles")
    engineer = make_member(project, Role.ENGINEER)
    a = _with_tool(AgentTrace(llm_calls=1), "notify_customer", {"order": 100})
    b = AgentTrace(llm_calls=1)
    b.spans[-1].attrs["gen_ai.tool.call.arguments"] = json.dumps({"order": 7})
    b = _with_tool(b, "refund", {"order": 7})
    make_run(project, a, resource={"service.name": "support-bot", "agentops.bundle.id": "bundle-v1"})
    make_run(project, b, resource={"service.name": "support-bot", "agentops.bundle.id": "bundle-v2"})
    page = logged_in_page(engineer)
    page.goto(reverse("run_compare", kwargs={"slug": project.slug}) + f"?a={a.trace_hex}&b={b.trace_hex}")
    table = page.locator("table.compare-table")
    table.wait_for(timeout=WAIT_MS)
    headers = table.locator("thead th")
    assert "bundle-v1" in headers.nth(1).inner_text() and "bundle-v2" in headers.nth(2).inner_text()
    marked = table.locator("tr.diverge")
    assert "execute_tool notify_customer" in marked.inner_text() and "execute_tool refund" in marked.inner_text()
    assert "They diverge at row 4." in page.locator(".divergence-summary").inner_text()
    lookup = table.locator("tr.differs")
    assert lookup.count() == 1 and "execute_tool lookup_order" in lookup.inner_text()
    diff = table.locator("tr.diff-row .payload-diff")
    assert diff.locator(".del").first.inner_text() == '-  "order": 100'
    assert diff.locator(".add").first.inner_text() == '+  "order": 7'
    screenshot(page, "compare-structure-diff")

    # A wrong trace id: the project's page, with its tabs and the form, saying which run was not found.
    # Its own context: the 404 status is meant, and logged_in_page fails a test on any failed load.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": _session_cookie(engineer), "url": live_server.url}]
    )
    page = context.new_page()
    response = page.goto(reverse("run_compare", kwargs={"slug": project.slug}) + f"?a={a.trace_hex}&b={'0' * 32}")
    assert response.status == 404
    assert "Run B: no run with trace id" in page.locator(".compare-not-found").inner_text()
    assert page.locator("nav.tabs").get_by_role("link", name="Runs").is_visible()
    assert page.locator("#cmp-a").input_value() == a.trace_hex
    screenshot(page, "compare-not-found")
    context.close()


def test_a_long_run_loads_one_panel_and_shows_a_window_of_the_waterfall(logged_in_page):
    project = make_project(name="Long run")
    engineer = make_member(project, Role.ENGINEER)
    run = make_run(project, AgentTrace(llm_calls=118))  # 120 steps
    page = logged_in_page(engineer)
    panels: list[str] = []
    page.on("request", lambda request: panels.append(request.url) if "/steps/" in request.url else None)
    page.goto(replay_url(project, run) + "?step=119")
    panel_of(page, run, 119).wait_for(timeout=WAIT_MS)
    page.locator("#waterfall .main-svg").first.wait_for(timeout=WAIT_MS)
    # Payloads come one step at a time: opening the page fetched the current step's panel only.
    assert len(panels) == 1
    high, low = page.evaluate("document.getElementById('waterfall').layout.yaxis.range")
    assert low <= 119 <= high and high - low == 40
    page.keyboard.press("k")
    panel_of(page, run, 118).wait_for(timeout=WAIT_MS)
    assert len(panels) == 2
    screenshot(page, "replay-long-run")


def test_a_steps_log_records_show_in_its_events_and_give_it_messages(logged_in_page):
    """Log records posted to /v1/logs (here: the GenAI events an older instrumentation sends instead of
    span attributes) appear in the step's Events list, in time order, with the messages they carry; a
    Viewer sees their names only."""
    from django.test import Client

    from agentops.tenancy import services
    from tests.traces.test_step_logs import genai_events, without_messages

    project = make_project(name="Logs project")
    engineer, viewer = make_member(project, Role.ENGINEER), make_member(project, Role.VIEWER)
    run = make_run(project, without_messages(AgentTrace(), 1))
    key = services.ingest_key_create(project=project).secret
    response = Client().post(
        "/v1/logs", data=genai_events(run, 1), content_type="application/x-protobuf",
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert response.status_code == 200

    page = logged_in_page(engineer)
    page.goto(replay_url(project, run) + "?step=1")
    chat = panel_of(page, run, 1)
    chat.wait_for(timeout=WAIT_MS)
    events = chat.locator("ol.event-list li.event")
    assert [name.inner_text() for name in events.locator("strong").all()] == [
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.choice",
    ]
    assert "It is sunny." in chat.locator(".conversation").last.inner_text()
    assert chat.locator(".from-logs").is_visible()
    screenshot(page, "replay-log-records")

    page = logged_in_page(viewer)
    page.goto(replay_url(project, run) + "?step=1")
    chat = panel_of(page, run, 1)
    chat.wait_for(timeout=WAIT_MS)
    assert chat.locator("ol.event-list li.event").count() == 3
    assert "It is sunny." not in chat.inner_text()
    assert "weather assistant" not in chat.inner_text()
