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
