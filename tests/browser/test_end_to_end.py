"""The engineers' browser flow end to end, with real parts: chromium, the live server, and runs sent by
the OpenTelemetry SDK's own OTLP exporter with the project's ingest key.

An engineer logs in through the login form, watches a run sent meanwhile appear in the run list without
a reload, opens it, steps through it with the keyboard to the tool call and reads its arguments, compares
it with a second run, and opens the dashboard, whose charts plotly draws. A Viewer replays the run without
seeing any payload; an outsider gets 404 on every page. Console errors, failed requests and requests to
other hosts fail every test (tests/browser/conftest.py). Screenshots: artifacts/screenshots/e2e-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from agentops.tenancy import services
from agentops.tenancy.models import Project, User
from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, make_member, make_project, make_run, make_user
from tests.otlp import AgentTrace
from tests.traces.conftest import SdkRun, emit_agent_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000
# emit_agent_run's steps in start order: root, chat, tool (lookup_order), chat, failed chat.
TOOL_STEP = 2


@pytest.fixture
def project() -> Iterator[Project]:
    project = make_project(name="E2E project")
    yield project


@pytest.fixture
def engineer(project: Project) -> User:
    return make_member(project, Role.ENGINEER)


def url_of(name: str, **kwargs: str) -> str:
    """The page's URL; skips the test, naming the page, while that page is not built yet."""
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        pytest.skip(f"page {name!r} is not built yet")


def send_run(live_server: Any, project: Project) -> SdkRun:
    """An agent run exported by the OTel SDK's OTLP/HTTP exporter to the live server, as an agent does."""
    key = services.ingest_key_create(project=project, name="e2e").secret
    exporter = OTLPSpanExporter(endpoint=live_server.url + "/v1/traces", headers={"Authorization": f"Bearer {key}"})
    return emit_agent_run(exporter)


def log_in(page: Any, user: User) -> None:
    """Through the login form, not a planted session cookie."""
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login/).*$"))


def test_an_engineer_sees_a_new_run_appear_in_the_list_without_reloading(
    logged_in_page, live_server, project, engineer
):
    runs_url = url_of("run_list", slug=project.slug)
    page = logged_in_page(engineer)
    log_in(page, engineer)
    page.goto(runs_url)
    # A reload would lose this; the new row must arrive by htmx into the same document.
    page.evaluate("window.__e2eNoReload = true")
    screenshot(page, "e2e-run-list-empty")
    # As an engineer waiting for a run: the list polls at least once while it is still empty.
    with page.expect_response(lambda response: "after=" in response.url, timeout=WAIT_MS):
        pass

    run = send_run(live_server, project)

    row_link = page.locator(f"a[href*='{run.trace_id}']").first
    row_link.wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.__e2eNoReload") is True
    screenshot(page, "e2e-run-list-live")
    row_link.click()
    page.wait_for_url(f"**/runs/{run.trace_id}/")
    page.locator("#step-panel .step-detail").wait_for(timeout=WAIT_MS)


def test_an_engineer_steps_through_a_run_with_the_keyboard_and_reads_the_tool_arguments(
    logged_in_page, live_server, project, engineer
):
    run = send_run(live_server, project)
    page = logged_in_page(engineer)
    log_in(page, engineer)
    page.goto(url_of("run_replay", slug=project.slug, trace_id=run.trace_id))
    panel = page.locator("#step-panel .step-detail")
    panel.wait_for(timeout=WAIT_MS)
    assert page.locator("#span-tree li.row[data-span]").count() == 5
    # The waterfall is drawn by plotly.
    page.locator("#waterfall .main-svg").first.wait_for(timeout=WAIT_MS)
    screenshot(page, "e2e-replay-first-step")

    start = int(panel.get_attribute("data-index") or 0)
    for _ in range(TOOL_STEP - start):
        page.keyboard.press("j")
    tool_panel = page.locator(f"#step-panel .step-detail[data-span='{run.tool}']")
    tool_panel.wait_for(timeout=WAIT_MS)
    assert page.locator("#step-counter").inner_text().startswith(f"{TOOL_STEP + 1} /")
    arguments = tool_panel.locator(".tool-args")
    assert arguments.is_visible()
    assert '"order_id": "A-100"' in arguments.inner_text()
    assert '"status": "shipped"' in tool_panel.locator(".tool-result").inner_text()
    screenshot(page, "e2e-replay-tool-step")

    page.keyboard.press("k")
    page.locator(f"#step-panel .step-detail[data-span='{run.chat_1}']").wait_for(timeout=WAIT_MS)
    page.keyboard.press("e")  # jump to the first error: the failed chat (the root reports no error)
    page.locator(f"#step-panel .step-detail[data-span='{run.failed}']").wait_for(timeout=WAIT_MS)
    assert "BadRequestError" in page.locator("#step-panel").inner_text()
    screenshot(page, "e2e-replay-first-error")


def test_an_engineer_compares_two_runs_and_sees_where_they_diverge(logged_in_page, live_server, project, engineer):
    first = send_run(live_server, project)
    # Another agent version: the same start, then other calls (stored through the ingest pipeline).
    second = make_run(project, AgentTrace(llm_calls=3)).trace_id.hex()
    page = logged_in_page(engineer)
    log_in(page, engineer)
    page.goto(url_of("run_replay", slug=project.slug, trace_id=first.trace_id))
    page.get_by_role("link", name="Compare with…").click()
    page.fill("input[name=b]", second)
    page.locator("form.compare-form [type=submit], form.compare-form button").first.click()
    page.locator("table.compare-table").wait_for(timeout=WAIT_MS)
    assert first.trace_id in page.url and second in page.url
    assert "diverge at row" in page.locator(".divergence-summary").inner_text()
    marked = page.locator("table.compare-table tr.diverge")
    assert marked.count() == 1
    page.locator(".diverge-link").click()
    assert page.url.endswith("#divergence")
    screenshot(page, "e2e-compare")


def test_an_engineer_opens_the_dashboard_and_its_charts_render(logged_in_page, live_server, project, engineer):
    send_run(live_server, project)
    page = logged_in_page(engineer)
    log_in(page, engineer)
    page.goto(url_of("project_dashboard", slug=project.slug) + "?range=7d")
    plots = page.locator(".chart-grid [data-figure]")
    plots.first.wait_for(timeout=WAIT_MS)
    assert plots.count() > 0
    # Every chart with data is drawn by plotly: each gets its SVG.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart-grid [data-figure]')].every(el => el.querySelector('.main-svg'))",
        timeout=WAIT_MS,
    )
    screenshot(page, "e2e-dashboard")


def test_a_viewer_replays_a_run_without_payloads(logged_in_page, live_server, project):
    run = send_run(live_server, project)
    viewer = make_member(project, Role.VIEWER)
    page = logged_in_page(viewer)
    page.goto(url_of("run_replay", slug=project.slug, trace_id=run.trace_id))
    page.locator("#step-panel .step-detail").wait_for(timeout=WAIT_MS)
    for _ in range(TOOL_STEP):
        page.keyboard.press("j")
    page.locator(f"#step-panel .step-detail[data-span='{run.tool}']").wait_for(timeout=WAIT_MS)
    text = page.content()
    assert page.locator("#step-panel .no-payloads").is_visible()
    assert page.locator("#step-panel .tool-args").count() == 0
    for payload in ("A-100", "shipped", "Where is my order", "You answer questions about orders"):
        assert payload not in text, payload
    screenshot(page, "e2e-viewer-replay")


def test_an_outsider_gets_404_on_every_page(logged_in_page, live_server, project):
    run = send_run(live_server, project)
    outsider = make_user()
    page = logged_in_page(outsider)
    urls = []
    for name, kwargs in (
        ("run_list", {}),
        ("session_thread", {"session_id": "conv-42"}),
        ("run_replay", {"trace_id": run.trace_id}),
        ("run_export", {"trace_id": run.trace_id}),
        ("run_compare", {}),
        ("project_dashboard", {}),
        ("agent_dashboard", {"agent": "support-bot"}),
    ):
        try:
            urls.append(reverse(name, kwargs={"slug": project.slug, **kwargs}))
        except NoReverseMatch:
            continue  # a page not built yet; the permission walk covers every URL that exists
    assert urls
    # Not page.goto: a 404's console error would (rightly) fail the test at teardown.
    for url in urls:
        response = page.request.get(url)
        assert response.status == 404, (url, response.status)
