"""GET /p/<slug>/agents/<agent>/compare/: two bundles of an agent compared, for every role that may view
the project; an outsider gets 404."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agentops.agents.services import bundles_record
from tests.agentops.alerts.runs import AGENT, seed

pytestmark = pytest.mark.django_db

HOSTILE = ["<img src=x onerror=alert(1)>", '"};alert(1)//']
# Session and user (2), the project and the role's permissions (3), the agent's bundles (1), the canary's
# lookups of the agent and bundles (3), then each arm's runs and tool steps read for the verdict (4) and
# again for the plots (4).
QUERIES = 13  # both arms read once (canary_verdict), whatever the runs
_JSON_SCRIPT = re.compile(r'<script id="(figure-[^"]+)" type="application/json">(.*?)</script>', re.S)


def page(client: Client, project: Any, user: Any, agent: str = AGENT, **params: str):
    client.force_login(user)
    return client.get(reverse("bundle_compare", kwargs={"slug": project.slug, "agent": agent}), params)


def figures(html: str) -> dict[str, Any]:
    return {name: json.loads(body) for name, body in _JSON_SCRIPT.findall(html)}


def metric_row(html: str, name: str) -> str:
    match = re.search(rf'<tr class="outcome-(\w+)" data-metric="{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {name}"
    return match.group(0)


@pytest.fixture
def two_bundles(personas) -> None:
    seed(personas.project, "v1", 3, hours_ago=5)
    seed(personas.project, "v2", 3, hours_ago=2)
    bundles_record()


def test_every_member_sees_the_page(client, personas, two_bundles):
    for role in ("viewer", "engineer", "reviewer", "admin"):
        response = page(client, personas.project, getattr(personas, role))

        assert response.status_code == 200, role
        assert 'data-testid="verdict"' in response.text


def test_an_outsider_gets_404_and_nothing_of_the_project(client, personas, two_bundles):
    response = page(client, personas.project, personas.outsider, candidate="v2", baseline="v1")

    assert response.status_code == 404
    assert "v2" not in response.text and personas.project.name not in response.text


def test_by_default_the_newest_bundle_against_its_recorded_baseline(client, personas, two_bundles):
    response = page(client, personas.project, personas.viewer)

    html = response.text
    assert response.status_code == 200
    assert '<option value="v2" selected>' in html  # the candidate
    assert re.search(r'name="baseline">\s*<option value="">its recorded baseline</option>', html)
    assert '<option value="prod" selected>' in html  # the newest bundle's environment
    assert 'Candidate <strong class="mono">v2</strong>: 3 runs' in html
    assert 'Baseline <strong class="mono">v1</strong>: 3 runs' in html
    # Too few runs to say: inconclusive, never pass.
    assert 'data-testid="verdict-value">inconclusive<' in html
    runs = reverse("run_list", kwargs={"slug": personas.project.slug})
    assert f'href="{runs}?agent=support-bot&amp;bundle=v1&amp;environment=prod"' in html
    assert f'href="{runs}?agent=support-bot&amp;bundle=v2&amp;environment=prod"' in html


def test_a_chosen_pair_and_window(client, personas, two_bundles):
    html = page(client, personas.project, personas.viewer, candidate="v1", baseline="v2", since="2020-01-01T00:00").text

    assert 'Candidate <strong class="mono">v1</strong>' in html
    assert 'Baseline <strong class="mono">v2</strong>' in html
    assert "since 2020-01-01 00:00 UTC" in html
    assert "from=2020-01-01T00%3A00%3A00%2B00%3A00" in html  # the runs behind each arm, same window


def test_a_regressed_candidate_fails_with_its_failing_metrics(client, personas):
    seed(personas.project, "v1", 32, hours_ago=5)
    seed(personas.project, "v2", 32, hours_ago=2, regressed=True)
    bundles_record()

    html = page(client, personas.project, personas.viewer).text

    assert 'data-testid="verdict-value">fail<' in html
    assert "critical metric failed: error_rate" in html
    errors = metric_row(html, "error_rate")
    assert 'class="outcome-fail"' in errors and "(critical)" in errors
    assert "0.0%" in errors and "43.8%" in errors  # baseline and candidate error rates (14 of 32)
    assert "Fisher" in errors
    assert 'class="outcome-fail"' in metric_row(html, "llm_calls")
    durations = metric_row(html, "duration_ms")  # medians in ms, whole above a thousand
    assert ">7,000<" in durations and ">11,000<" in durations and "\u00d71.57" in durations
    boxes = figures(html)
    llm = next(f for f in boxes.values() if f["layout"]["title"]["text"] == "llm_calls")
    assert [t["name"] for t in llm["data"]] == ["v1 (baseline)", "v2 (candidate)"]
    assert llm["data"][1]["median"][0] > llm["data"][0]["median"][0]


def test_hostile_bundle_names_are_escaped_in_the_html_and_the_figures(client, personas):
    baseline, candidate = HOSTILE
    seed(personas.project, baseline, 3, hours_ago=5)
    seed(personas.project, candidate, 3, hours_ago=2)
    bundles_record()

    response = page(client, personas.project, personas.viewer)

    html = response.text
    assert response.status_code == 200
    outside = _JSON_SCRIPT.sub("", html)
    assert "<img src=x" not in outside and '"};alert' not in outside
    assert "&lt;img src=x onerror=alert(1)&gt;" in outside and "&quot;};alert(1)//" in outside
    # In the figures: inert JSON (no raw "<" in the script element) and plotly text (entities).
    for _, body in _JSON_SCRIPT.findall(html):
        assert "<" not in body
    boxes = figures(html)
    assert boxes
    for figure in boxes.values():
        assert [t["name"] for t in figure["data"]] == [
            "&lt;img src=x onerror=alert(1)&gt; (baseline)",
            '"};alert(1)//' + " (candidate)",
        ]
    runs = reverse("run_list", kwargs={"slug": personas.project.slug})
    assert f"{runs}?agent=support-bot&amp;bundle=%22%7D%3Balert%281%29%2F%2F&amp;environment=prod" in html


def test_an_unknown_agent_is_a_404_page_with_navigation(client, personas, two_bundles):
    response = page(client, personas.project, personas.viewer, agent="nobody")

    assert response.status_code == 404
    assert "no agent named &#x27;nobody&#x27;" in response.text
    assert 'class="tabs"' in response.text  # the project's navigation, not a bare 404


def test_an_unknown_bundle_is_a_404_page(client, personas, two_bundles):
    response = page(client, personas.project, personas.viewer, candidate="v9")

    assert response.status_code == 404
    assert "has no bundle &#x27;v9&#x27;" in response.text
    assert 'data-testid="compare-form"' in response.text  # pick another pair from here


def test_a_bundle_against_itself_is_a_400_page(client, personas, two_bundles):
    response = page(client, personas.project, personas.viewer, candidate="v1", baseline="v1")

    assert response.status_code == 400
    assert "the same bundle" in response.text


def test_a_malformed_since_is_a_400_page(client, personas, two_bundles):
    response = page(client, personas.project, personas.viewer, since="yesterday")

    assert response.status_code == 400
    assert "since must be an ISO 8601 date-time" in response.text


def test_an_agent_whose_bundles_are_not_recorded_yet(client, personas):
    seed(personas.project, "v1", 1, hours_ago=1)  # the recorder has not run

    response = page(client, personas.project, personas.viewer)

    assert response.status_code == 200
    assert "No bundles of this agent are recorded yet" in response.text


def test_the_page_costs_the_same_queries_whatever_the_runs(client, personas, django_assert_num_queries):
    seed(personas.project, "v1", 2, hours_ago=5)
    seed(personas.project, "v2", 2, hours_ago=2)
    bundles_record()
    client.force_login(personas.viewer)
    url = reverse("bundle_compare", kwargs={"slug": personas.project.slug, "agent": AGENT})
    client.get(url)  # warm the per-process caches (content types, ...)

    with django_assert_num_queries(QUERIES):
        assert client.get(url).status_code == 200
    seed(personas.project, "v1", 6, hours_ago=4)
    seed(personas.project, "v2", 6, hours_ago=1, regressed=True)
    bundles_record()
    with django_assert_num_queries(QUERIES):
        assert client.get(url).status_code == 200
