"""The run list in chromium: it renders, a run stored while it is open appears without a reload, a run
that grows updates its row in place, the filter form puts the filters in the URL (a runaway run shows
its badge), and a row leads to its session's thread."""

from __future__ import annotations

import json
import re
import time

import pytest

from agentops.budgets.models import StepCap
from agentops.budgets.runaway import runaways_record
from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import NS, AgentTrace, protobuf
from traces.ingest.decode import decode_request
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 20_000  # polls every 3 s; a busy machine may take a few rounds


def test_a_run_stored_after_the_page_loaded_appears_without_a_reload(logged_in_page):
    project = make_project(name="Live list")
    user = make_member(project, Role.ENGINEER)
    first = make_run(project, AgentTrace(agent="first-bot"))
    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/")
    page.locator(f"tr.run[data-trace='{first.trace_hex}']").wait_for()
    page.evaluate("window.__notReloaded = true")

    later = make_run(project, AgentTrace(agent="later-bot"))
    row = page.locator(f"tr.run[data-trace='{later.trace_hex}']")
    row.wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.__notReloaded") is True
    # Newest first: the new row went on top, and the first run is still there, once.
    traces = page.locator("tr.run").evaluate_all("rows => rows.map(r => r.dataset.trace)")
    assert traces == [later.trace_hex, first.trace_hex]
    assert "later-bot" in row.inner_text()
    assert "Where is order" in row.inner_text()  # its input, for an engineer (a viewer sees none, below)
    screenshot(page, "run-list-live")


def test_the_filter_form_puts_the_filters_in_the_url(logged_in_page):
    project = make_project(name="Filtered list")
    user = make_member(project, Role.ENGINEER)
    alpha = make_run(project, AgentTrace(agent="alpha-bot"))
    beta = make_run(project, AgentTrace(agent="beta-bot", tool_error=True))
    StepCap.objects.create(project=project, agent="beta-bot", max_steps=3)  # beta has 4 steps: a runaway
    runaways_record()
    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/")
    assert page.locator("tr.run").count() == 2
    assert page.locator(f"tr.run[data-trace='{beta.trace_hex}'] .badge.runaway").is_visible()
    assert page.locator(f"tr.run[data-trace='{alpha.trace_hex}'] .badge.runaway").count() == 0

    page.fill("input[name=agent]", "beta-bot")
    page.select_option("select[name=status]", "error")
    page.select_option("select[name=runaway]", "1")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"agent=beta-bot.*status=error|status=error.*agent=beta-bot"))
    assert "runaway=1" in page.url
    assert page.locator("tr.run").evaluate_all("rows => rows.map(r => r.dataset.trace)") == [beta.trace_hex]
    assert page.input_value("input[name=agent]") == "beta-bot"
    screenshot(page, "run-list-filtered")

    page.reload()  # the filters survive: they are the URL
    assert page.locator("tr.run").evaluate_all("rows => rows.map(r => r.dataset.trace)") == [beta.trace_hex]
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url(f"**/p/{project.slug}/runs/")
    assert page.locator(f"tr.run[data-trace='{alpha.trace_hex}']").count() == 1


def test_a_viewer_sees_no_search_box_and_no_inputs(logged_in_page):
    project = make_project(name="Viewer list")
    user = make_member(project, Role.VIEWER)
    make_run(project)
    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/")
    page.locator("tr.run").first.wait_for()
    assert page.locator("input[name=q]").count() == 0
    assert "Where is order" not in page.content()
    screenshot(page, "run-list-viewer")


def test_a_row_updates_in_place_when_more_of_its_run_arrives(logged_in_page):
    project = make_project(name="Growing run")
    user = make_member(project, Role.VIEWER)
    trace = AgentTrace(agent="slow-bot")
    root, *rest = trace.built()
    config = load_ingest_config(project.pk)
    ingest_batch(config=config, batch=decode_request(protobuf(rest), "application/x-protobuf"))
    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/")
    row = page.locator(f"tr.run[data-trace='{trace.trace_hex}']")
    assert row.locator(".badge").inner_text() == "unfinished"
    page.evaluate("window.__notReloaded = true")

    ingest_batch(config=config, batch=decode_request(protobuf([root]), "application/x-protobuf"))
    page.locator(f"tr.run[data-trace='{trace.trace_hex}'] .badge.status-ok").wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("tr.run").count() == 1  # replaced, not added
    screenshot(page, "run-list-updated-in-place")


def test_a_row_leads_to_its_session_thread(logged_in_page):
    project = make_project(name="Sessions")
    user = make_member(project, Role.ENGINEER)
    first = make_run(project, AgentTrace(session="chat-9", start_ns=time.time_ns() - 120 * NS))
    second = make_run(project, AgentTrace(session="chat-9"))
    make_run(project, AgentTrace(session="chat-10"))
    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/")
    page.locator(f"tr.run[data-trace='{second.trace_hex}'] a.session-link").click()
    page.wait_for_url(f"**/p/{project.slug}/sessions/chat-9/")
    thread = page.locator("li.thread-run").evaluate_all("items => items.map(i => i.dataset.trace)")
    assert thread == [first.trace_hex, second.trace_hex]  # in start order, the other session left out
    assert page.locator("li.thread-run .bubble.user").first.inner_text().endswith("Where is order 100?")
    screenshot(page, "session-thread")


def test_a_run_of_a_fraction_of_a_cent_shows_its_cost_not_zero(logged_in_page):
    project = make_project(name="Tiny costs")
    user = make_member(project, Role.ENGINEER)
    trace = AgentTrace(agent="tiny-bot", llm_calls=1)
    # gpt-4o at $2.50 / $10 per million tokens: 8 in + 2 out = $0.00004.
    trace.spans[1].attrs.update({"gen_ai.usage.input_tokens": 8, "gen_ai.usage.output_tokens": 2})
    make_run(project, trace, resource={"service.name": "tiny-bot", "deployment.environment.name": "production"})
    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/")
    row = page.locator("#run-rows tr.run", has_text="tiny-bot")
    row.wait_for(timeout=WAIT_MS)
    assert "$0.00004" in row.inner_text()
    assert "$0.0000 " not in row.inner_text() + " "
    page.goto(f"/p/{project.slug}/runs/{trace.trace_hex}/?step=1")
    page.locator("#step-panel .step-detail").first.wait_for(timeout=WAIT_MS)
    facts = page.locator("header.run-head dl.facts")
    assert "$0.00004" in facts.inner_text()
    assert "$0.00004" in page.locator("#step-panel").inner_text()
    # The header names the end user (linked to their runs) and the environment.
    assert "user-1" in facts.locator("div", has_text="End user").inner_text()
    assert "production" in facts.locator("div", has_text="Environment").inner_text()
    facts.get_by_role("link", name="user-1").click()
    page.wait_for_url(re.compile(r"/runs/\?user=user-1$"))


def test_long_agent_and_bundle_names_are_cut_and_the_whole_row_opens_the_run(logged_in_page):
    project = make_project(name="Long names")
    user = make_member(project, Role.ENGINEER)
    agent = "customer-support-escalation-agent-" * 3
    bundle = "bundle-2026-12-07-with-a-very-long-release-name-" * 2
    trace = make_run(project, AgentTrace(agent=agent), resource={"service.name": agent, "agentops.bundle.id": bundle})
    page = logged_in_page(user)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/p/{project.slug}/runs/")
    row = page.locator("#run-rows tr.run").first
    row.wait_for(timeout=WAIT_MS)
    # The Input column keeps its room; the names are cut with the whole value on hover.
    table = page.locator("table.runs").bounding_box()["width"]
    assert row.locator("td.preview").bounding_box()["width"] > table / 5
    name = row.locator(".agent")
    assert name.get_attribute("title") == agent
    assert name.evaluate("e => e.scrollWidth > e.clientWidth")
    assert row.locator(".bundle").get_attribute("title") == bundle
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "run-list-long-names")
    # A click anywhere on the row (here: its step count) opens the run.
    row.locator("td.num").first.click()
    page.wait_for_url(re.compile(rf"/runs/{trace.trace_hex}/"))


def test_the_time_range_fits_its_inputs_and_presets_fill_it(logged_in_page):
    """The from/to inputs show a whole date-time (they were cut to 10em), and the presets are links that
    set from/to (UTC) and keep the other filters: last hour, today, yesterday, last 7 days."""
    from datetime import UTC, datetime, timedelta

    project = make_project(name="Presets")
    user = make_member(project, Role.ENGINEER)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    at = {
        "recent": now - timedelta(minutes=1),
        "yesterday": midnight - timedelta(hours=12),
        "old": now - timedelta(days=10),
    }
    runs = {name: make_run(project, AgentTrace(start_ns=int(t.timestamp() * NS))) for name, t in at.items()}

    def shown() -> set[str]:
        page.wait_for_load_state()
        traces = {
            page.locator("tr.run").nth(i).get_attribute("data-trace") for i in range(page.locator("tr.run").count())
        }
        return {name for name, run in runs.items() if run.trace_hex in traces}

    def value_of(name: str) -> datetime:
        """An input's date-time, read as UTC (chromium drops ':00' seconds from its value)."""
        return datetime.fromisoformat(page.locator(f"input[name='{name}']").input_value()).replace(tzinfo=UTC)

    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/?status=ok")
    assert shown() == {"recent", "yesterday", "old"}
    # Each input is at least as wide as a date-time input laid out at its own width in the same form.
    natural = page.evaluate(
        """() => {
        const probe = document.createElement('input');
        probe.type = 'datetime-local'; probe.step = '1'; probe.value = '2026-12-31T23:59:59';
        probe.style.setProperty('width', 'auto', 'important'); probe.style.setProperty('min-width', '0', 'important');
        document.querySelector('.run-filters').appendChild(probe);
        const width = probe.getBoundingClientRect().width; probe.remove(); return width; }"""
    )
    for name in ("from", "to"):
        assert page.locator(f".run-filters input[name='{name}']").bounding_box()["width"] >= natural

    presets = page.locator(".date-presets a")
    assert presets.all_inner_texts() == ["Last hour", "Today", "Yesterday", "Last 7 days"]
    page.get_by_role("link", name="Yesterday").click()
    assert shown() == {"yesterday"}
    assert value_of("from") == midnight - timedelta(days=1) and value_of("to") == midnight
    assert "status=ok" in page.url
    assert page.locator(".date-presets a.current").inner_text() == "Yesterday"
    screenshot(page, "runs-date-presets")

    page.get_by_role("link", name="Last hour").click()
    assert shown() == {"recent"}
    assert page.locator("input[name='to']").input_value() == ""
    page.get_by_role("link", name="Last 7 days").click()
    assert shown() == {"recent", "yesterday"}
    page.get_by_role("link", name="Today").click()
    assert value_of("from") == midnight
    assert "old" not in shown() and "yesterday" not in shown()


def test_searching_an_order_number_finds_the_run_that_names_it(logged_in_page):
    project = make_project(name="Order search")
    user = make_member(project, Role.ENGINEER)
    trace = AgentTrace(agent="order-bot", llm_calls=1)
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Where is my order <ORD-7301>?"}]}]
    trace.spans[1].attrs["gen_ai.input.messages"] = json.dumps(messages)
    make_run(project, trace)
    make_run(project, AgentTrace(agent="other-bot", llm_calls=1))
    page = logged_in_page(user)
    page.goto(f"/p/{project.slug}/runs/")
    page.locator("#run-rows tr.run").first.wait_for(timeout=WAIT_MS)
    page.locator("input[name=q]").fill("7301")
    page.locator("input[name=q]").press("Enter")
    page.wait_for_url(re.compile(r"[?&]q=7301"))
    rows = page.locator("#run-rows tr.run")
    rows.first.wait_for(timeout=WAIT_MS)
    assert rows.count() == 1 and "order-bot" in rows.first.inner_text()


def test_searching_a_word_of_a_tool_result_or_an_error_finds_its_run(logged_in_page):
    """Not only previews: a word deep in a tool's result, or in an error message, finds the run."""
    project = make_project(name="Deep search")
    user = make_member(project, Role.ENGINEER)
    shipped = AgentTrace(agent="result-bot", llm_calls=1)
    result = {"items": [{"sku": "KB-17", "note": "Backordered at the Leeds warehouse"}]}
    shipped.spans[-1].attrs["gen_ai.tool.call.result"] = json.dumps(result)
    failing = AgentTrace(agent="error-bot", llm_calls=1, tool_error=True)
    failing.spans[-1].error = "carrier API unreachable after 3 retries"
    for trace in (shipped, failing, AgentTrace(agent="other-bot", llm_calls=1)):
        make_run(project, trace)
    page = logged_in_page(user)
    for q, agent in (("backordered leeds", "result-bot"), ("unreachable", "error-bot")):
        page.goto(f"/p/{project.slug}/runs/")
        page.locator("#run-rows tr.run").first.wait_for(timeout=WAIT_MS)
        page.locator("input[name=q]").fill(q)
        page.locator("input[name=q]").press("Enter")
        page.wait_for_url(re.compile(r"[?&]q="))
        rows = page.locator("#run-rows tr.run")
        rows.first.wait_for(timeout=WAIT_MS)
        assert rows.count() == 1 and agent in rows.first.inner_text(), q
