"""Values an agent's end user can shape (a user id, a model, a tool, a bundle, a step name), drawn by
plotly in a real browser: every label reads as the text it is, with no link and no styled element, on the
project dashboard, the agent dashboard and the replay's waterfall, for the least privileged role."""

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
ALL_DRAWN = (
    "() => [...document.querySelectorAll('[data-figure], #waterfall')].every(el => el.querySelector('.main-svg'))"
)
HOSTILE = 'x<a href="https://evil.example/phish">link</a><span style="font-size:120px;color:red">BIG</span>'
# What plotly must not have made of any label: a link, or an element styled by the data.
INJECTED = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => [
    ...plot.querySelectorAll('a'),
    ...[...plot.querySelectorAll('[style]')].filter(el => /120px|evil/.test(el.getAttribute('style'))),
]).map(el => el.outerHTML)"""


def _hostile_run(project) -> AgentTrace:
    trace = AgentTrace(start_ns=time.time_ns() - 3600 * NS, agent="bot", user=HOSTILE)
    for span in trace.spans:
        if "gen_ai.request.model" in span.attrs:
            span.attrs["gen_ai.request.model"] = "model " + HOSTILE
        if "gen_ai.tool.name" in span.attrs:
            span.attrs["gen_ai.tool.name"] = "tool " + HOSTILE
            span.name = "execute_tool " + HOSTILE
    make_run(project, trace, {"service.name": "bot", "agentops.bundle.id": "bundle " + HOSTILE})
    return trace


def _assert_inert(page) -> None:
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)
    assert page.evaluate(INJECTED) == []
    texts = " ".join(page.locator(".js-plotly-plot text").all_text_contents())
    assert "<span" in texts or "<a" in texts, "the hostile label is not drawn as text at all"


def test_hostile_labels_are_drawn_as_text_on_the_dashboards(logged_in_page):
    project = make_project(name="Hostile")
    _hostile_run(project)
    page = logged_in_page(make_member(project, Role.VIEWER))

    page.goto(reverse("project_dashboard", kwargs={"slug": project.slug}))
    _assert_inert(page)
    # The end user, model and tool charts hold the value, escaped: drawn with its angle brackets.
    labels = page.locator(".js-plotly-plot .ytick text").all_text_contents()
    assert any(text.startswith("x<a href=") for text in labels), labels
    assert any(text.startswith("model x<a") for text in labels), labels
    assert any(text.startswith("tool x<a") for text in labels), labels
    screenshot(page, "hostile-dashboard")

    page.goto(reverse("agent_dashboard", kwargs={"slug": project.slug, "agent": "bot"}))
    _assert_inert(page)
    legend = page.locator(".js-plotly-plot .legendtext").all_text_contents()
    assert any(text.startswith("bundle x<a") for text in legend), legend


def test_a_hostile_step_name_is_text_in_the_waterfall(logged_in_page):
    project = make_project(name="Hostile replay")
    trace = _hostile_run(project)
    page = logged_in_page(make_member(project, Role.VIEWER))
    page.goto(reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex}))
    page.wait_for_function(ALL_DRAWN, timeout=WAIT_MS)
    page.locator("#waterfall .bars path").last.hover(force=True)  # through plotly's drag layer
    page.locator("#waterfall .hovertext").wait_for(timeout=WAIT_MS)
    assert page.evaluate(INJECTED) == []
    hover = page.locator("#waterfall .hovertext").text_content() or ""
    assert "execute_tool x<a href=" in hover, hover


@pytest.mark.parametrize("agent", ["ops/../../settings/keys", "..", "50%/a%2Fb"])
def test_an_agent_name_holding_a_path_opens_its_own_page(logged_in_page, agent):
    project = make_project(name="Paths")
    make_run(project, AgentTrace(start_ns=time.time_ns() - 3600 * NS, agent=agent), {"service.name": "svc"})
    page = logged_in_page(make_member(project, Role.VIEWER))
    page.goto(reverse("project_dashboard", kwargs={"slug": project.slug}))
    page.get_by_role("link", name=agent, exact=True).click()
    page.get_by_test_id("agent-name").wait_for(timeout=WAIT_MS)
    assert page.get_by_test_id("agent-name").inner_text() == agent
    assert "/settings/" not in page.url


def test_a_session_id_holding_dot_segments_opens_its_thread(logged_in_page):
    project = make_project(name="Sessions")
    session = "../../runs/../x"
    trace = make_run(project, AgentTrace(start_ns=time.time_ns() - 3600 * NS, session=session))
    page = logged_in_page(make_member(project, Role.VIEWER))
    page.goto(reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex}))
    page.locator("a", has_text="session").first.click()
    page.wait_for_load_state()
    assert page.locator("h2").first.inner_text() == f"Session {session}"


RLO = "\u202e"


def test_a_bidi_override_in_a_name_does_not_reorder_the_line(logged_in_page):
    # U+202E draws what follows it right to left: unisolated, it would put the status badge before the
    # name and reverse the text after it.
    project = make_project(name="Bidi")
    agent = f"bot {RLO}gnitset"
    trace = AgentTrace(start_ns=time.time_ns() - 3600 * NS, agent=agent, tool_error=True)
    make_run(project, trace, {"service.name": "svc", "agentops.bundle.id": f"b{RLO}1"})
    page = logged_in_page(make_member(project, Role.VIEWER))

    page.goto(reverse("run_list", kwargs={"slug": project.slug}))
    row = page.locator("tr.run").first
    row.wait_for(timeout=WAIT_MS)
    name_box, badge_box = row.locator(".agent").bounding_box(), row.locator(".badge").first.bounding_box()
    assert name_box and badge_box and badge_box["x"] > name_box["x"] + name_box["width"]

    page.goto(reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex}))
    # Where the name's text is drawn (everything in the heading before the badge), and the badge.
    name_right, badge_left = page.locator(".run-head h2").evaluate(
        """h => {
            const badge = h.querySelector('.status'), range = document.createRange();
            range.setStart(h, 0);
            range.setEndBefore(badge);
            return [Math.max(...[...range.getClientRects()].map(r => r.right)), badge.getBoundingClientRect().left];
        }"""
    )
    assert badge_left >= name_right
    # The bundle after the agent stays after it: the override ends with the agent's name.
    facts = page.locator(".facts dd").first.locator("bdi")
    first, second = facts.nth(0).bounding_box(), facts.nth(1).bounding_box()
    assert first and second and second["x"] > first["x"]
