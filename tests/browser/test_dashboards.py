"""The dashboards in chromium: plotly draws every chart (project and agent pages), the range and slice
controls reload the page with the choice in the URL, and nothing logs a console error (the harness fails
the test on any). Screenshots: artifacts/screenshots/dashboard-*.png."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import AgentTrace

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NS = 1_000_000_000
WAIT_MS = 15_000
ALL_DRAWN = "() => [...document.querySelectorAll('[data-figure]')].every(el => el.querySelector('.main-svg'))"


def _seed(project):
    agent = "billing/v2 bot"
    for i, (bundle, env) in enumerate([("b1", "prod"), ("b1", "staging"), ("b2", "prod"), ("b2", "prod")]):
        trace = AgentTrace(start_ns=time.time_ns() - (i * 7 + 1) * 3600 * NS, agent=agent, tool_error=i == 3)
        make_run(
            project, trace, {"service.name": agent, "agentops.bundle.id": bundle, "deployment.environment.name": env}
        )
    return agent  # no rollup refresh: the page catches its project up


def test_the_project_dashboard_draws_its_charts_and_slices(logged_in_page):
    project = make_project(name="Dashboards")
    _seed(project)
    page = logged_in_page(make_member(project, Role.VIEWER))
    page.goto(reverse("project_dashboard", kwargs={"slug": project.slug}))
    plots = page.locator("[data-figure]")
    plots.first.wait_for(timeout=WAIT_MS)
    assert plots.count() == 10
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)
    assert page.locator(".main-svg").count() >= 10
    assert page.get_by_test_id("total-runs").inner_text() == "4"
    screenshot(page, "dashboard-project")

    page.select_option("select[name=bundle]", "b2")
    page.select_option("select[name=range]", "24h")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**bundle=b2**")
    assert "range=24h" in page.url
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)
    assert page.get_by_test_id("total-runs").inner_text() == "2"


def test_the_agent_dashboard_compares_bundles(logged_in_page):
    project = make_project(name="Agents")
    agent = _seed(project)
    page = logged_in_page(make_member(project, Role.VIEWER))
    page.goto(reverse("project_dashboard", kwargs={"slug": project.slug}))
    page.get_by_role("link", name=agent).click()
    page.get_by_test_id("agent-name").wait_for(timeout=WAIT_MS)
    assert page.get_by_test_id("agent-name").inner_text() == agent
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)
    rows = page.locator("[data-testid=bundles] tbody tr")
    assert rows.count() == 2
    assert rows.first.locator("td").first.inner_text() == "b1"  # the most recently seen first
    # One panel per metric in the side-by-side chart: plotly draws a subplot (an x axis) for each.
    assert (
        page.locator(
            "[data-testid=chart-side_by_side] .xtick, [data-testid=chart-side_by_side] .xaxislayer-above"
        ).count()
        > 0
    )
    screenshot(page, "dashboard-agent")


def _click_centre(page, locator) -> None:
    """A click where plotly listens: its drag layer lies over the bars, so click the bar's place."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_charts_open_the_runs_behind_a_point_and_the_right_axis_label_fits(logged_in_page):
    project = make_project(name="Chart links")
    agent = _seed(project)  # four runs of one agent; the last (b2, prod) failed
    make_run(project, AgentTrace(start_ns=time.time_ns() - 2 * 3600 * NS, agent="other-bot"), {"service.name": "x"})
    page = logged_in_page(make_member(project, Role.VIEWER))
    dashboard = reverse("project_dashboard", kwargs={"slug": project.slug})
    page.goto(dashboard)
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)

    # The cost chart's right axis (tokens) lies inside its chart.
    # Its tick labels are whole (not cut at the edge), and the title stands clear of them.
    svg = page.locator("[data-testid=chart-cost] .main-svg").first.bounding_box()
    right = svg["x"] + svg["width"]
    ticks = page.locator("[data-testid=chart-cost] .y2tick text")
    assert ticks.count() >= 2
    tick_boxes = [ticks.nth(i).bounding_box() for i in range(ticks.count())]
    assert all(box["x"] + box["width"] <= right for box in tick_boxes)
    title = page.locator("[data-testid=chart-cost] .g-y2title text").bounding_box()
    assert title is not None and title["width"] > 0
    assert max(box["x"] + box["width"] for box in tick_boxes) <= title["x"] and title["x"] + title["width"] <= right
    screenshot(page, "dashboard-right-axis")

    # A bar of "Cost by agent" opens the run list filtered to that agent, within the dashboard's window.
    bars = page.locator("[data-testid=chart-cost_agent] .bars .point path")
    assert bars.count() == 2
    names = page.locator("[data-testid=chart-cost_agent] .ytick text").all_text_contents()
    _click_centre(page, bars.nth(names.index(agent)))
    page.wait_for_url("**/runs/?**", timeout=WAIT_MS)
    assert page.input_value("input[name=agent]") == agent
    assert page.input_value("input[name=from]") and page.input_value("input[name=to]")
    assert page.locator("tr.run").count() == 4

    # The error part of a bar of "Runs" opens that hour's failed runs: the one run that failed.
    page.goto(dashboard)
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)
    error_bars = page.locator("[data-testid=chart-runs] .trace.bars").nth(1).locator(".point path")
    visible = [i for i in range(error_bars.count()) if (error_bars.nth(i).bounding_box() or {}).get("height", 0) > 0]
    assert len(visible) == 1
    _click_centre(page, error_bars.nth(visible[0]))
    page.wait_for_url("**status=error**", timeout=WAIT_MS)
    assert page.locator("tr.run").count() == 1
    assert page.locator("tr.run .badge.status-error").count() == 1
