"""The eval run pages in chromium, offline (the conftest fails on any request to another host): a failing
case links to its run's replay, the comparison with the baseline shows the flipped case first, and the
trend chart is drawn with a hostile bundle name as text; a click on a point opens that eval run.
Screenshots: artifacts/screenshots/eval-run.png, eval-trend.png."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from agentops.tenancy.roles import Role
from tests.agentops.goldens.eval_factories import evaluate, golden_set
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000
HOSTILE = '<img src=x onerror=alert(1)><a href="https://evil.example/">v2</a>'
INJECTED = "() => [...document.querySelectorAll('img, [onerror], .js-plotly-plot a')].map(el => el.outerHTML)"


def test_a_failing_case_links_to_its_replay_compare_shows_the_flip_and_the_trend_is_drawn(logged_in_page):
    project = make_project(name="Evals")
    _, (first, second) = golden_set(project)
    v1 = evaluate(project, "smoke", "v1", {first: "shipped", second: "shipped"})
    v2 = evaluate(project, "smoke", HOSTILE, {first: "lost", second: "shipped"}, baseline="v1")
    page = logged_in_page(make_member(project, Role.ENGINEER))
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    page.goto(reverse("eval_run", kwargs={"slug": project.slug, "eval_run_id": v2.eval_run.pk}))
    assert page.locator("#verdict").inner_text() == "fail"
    failing = page.locator(f"#case-{first}")
    assert "equals" in failing.inner_text() and "lost" in failing.inner_text()
    screenshot(page, "eval-run")
    failing.locator("a.replay").click()
    page.wait_for_url(re.compile(rf"/p/{project.slug}/runs/{v2.traces[first]}/$"), timeout=WAIT_MS)
    page.go_back()

    page.locator("#compare-baseline").click()
    page.wait_for_url(re.compile(r"/evals/compare/\?a=\d+&b=\d+$"), timeout=WAIT_MS)
    top = page.locator("#compare tbody tr").first
    assert top.get_attribute("data-case") == first and "pass → fail" in top.inner_text()
    assert page.locator("#link-a").inner_text() == f"eval run {v1.eval_run.pk}"

    page.goto(reverse("eval_runs", kwargs={"slug": project.slug}) + "?set=smoke")
    page.wait_for_selector("[data-eval-figure][data-drawn=true] .main-svg", timeout=WAIT_MS)
    legend = page.locator(".js-plotly-plot .legendtext").all_text_contents()
    assert sorted(legend) == sorted([HOSTILE, "v1"]), legend
    assert page.evaluate(INJECTED) == []
    screenshot(page, "eval-trend")
    # A click on the hostile bundle's point (50%: one of two cases) opens its eval run.
    points = page.locator(".js-plotly-plot .scatterlayer .trace .points path")
    assert points.count() == 2
    box = None
    for i in range(points.count()):
        candidate = points.nth(i).bounding_box()
        if candidate and (box is None or candidate["y"] > box["y"]):
            box = candidate  # the lower point: 50%
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(re.compile(rf"/evals/{v2.eval_run.pk}/$"), timeout=WAIT_MS)
    assert dialogs == []
