"""The bundle comparison page in chromium, with hostile bundle and tool names: every box plot is drawn,
the names read as the text they are (no element made of them, no script run: no dialog), and the agent
dashboard loads its verdicts block through htmx. Screenshot: artifacts/screenshots/bundle-compare.png."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from agentops.agents.services import bundles_record
from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import AgentTrace

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NS = 1_000_000_000
WAIT_MS = 15_000
BASELINE = "<img src=x onerror=alert(1)>"
CANDIDATE = '"};alert(1)//'
# Markup plotly does draw (a link, a styled span) unless escaped: the check that the labels are escaped.
TOOL = '<img src=y onerror=alert(2)><a href="https://evil.example/">link</a><span style="font-size:120px">BIG</span>'
ALL_DRAWN = "() => [...document.querySelectorAll('[data-figure]')].every(el => el.querySelector('.main-svg'))"
# Anything the names could have become inside the page: an image, an element with a handler.
INJECTED = """() => [
    ...document.querySelectorAll('img, [onerror], .js-plotly-plot a'),
    ...[...document.querySelectorAll('.js-plotly-plot [style]')].filter(el => /120px/.test(el.getAttribute('style'))),
].map(el => el.outerHTML)"""


def _seed(project, agent: str) -> None:
    for bundle, hours_ago in ((BASELINE, 5), (CANDIDATE, 2)):
        for i in range(4):
            trace = AgentTrace(start_ns=time.time_ns() - int((hours_ago * 3600 - i * 60) * NS), agent=agent)
            for span in trace.spans:
                if "gen_ai.tool.name" in span.attrs:
                    span.attrs["gen_ai.tool.name"] = TOOL
            make_run(project, trace, {"service.name": agent, "agentops.bundle.id": bundle})
    bundles_record()


def test_hostile_names_on_the_comparison_page_are_drawn_as_text(logged_in_page):
    project = make_project(name="Compare")
    agent = "bot"
    _seed(project, agent)
    page = logged_in_page(make_member(project, Role.VIEWER))
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    page.goto(reverse("bundle_compare", kwargs={"slug": project.slug, "agent": agent}))
    plots = page.locator("[data-figure]")
    plots.first.wait_for(timeout=WAIT_MS)
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)

    assert plots.count() >= 9  # eight run metrics and the tool's calls
    assert page.get_by_test_id("verdict-value").inner_text() == "inconclusive"  # 4 runs an arm
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    assert f"{BASELINE} (baseline)" in ticks and f"{CANDIDATE} (candidate)" in ticks, ticks
    titles = page.locator(".js-plotly-plot .gtitle").all_text_contents()
    assert f"tool.{TOOL}.calls" in titles, titles
    assert page.locator("select[name=candidate] option:checked").inner_text() == CANDIDATE
    assert page.evaluate(INJECTED) == []
    screenshot(page, "bundle-compare")

    page.goto(reverse("agent_dashboard", kwargs={"slug": project.slug, "agent": agent}))
    verdicts = page.get_by_test_id("bundle-verdicts").get_by_test_id("verdict-value")
    verdicts.first.wait_for(timeout=WAIT_MS)  # swapped in by htmx after the page
    assert verdicts.count() == 2
    page.get_by_test_id("bundle-verdicts").get_by_role("link", name="compare").first.click()
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)
    assert page.locator("select[name=baseline] option:checked").inner_text() == BASELINE

    assert page.evaluate(INJECTED) == []
    assert dialogs == []
