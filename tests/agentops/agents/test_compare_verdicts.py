"""GET /p/<slug>/agents/<agent>/verdicts/: the agent dashboard's lazily loaded block, each recent bundle's
verdict against its recorded baseline; and the dashboard that loads it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agentops.agents.services import bundles_record
from tests.agentops.alerts.runs import AGENT, seed

pytestmark = pytest.mark.django_db

# Session and user (2), the project and the role's permissions (3), the agent's recent bundles (1), then
# per distinct arm its runs and tool steps (2): here v1 and v2, v1 being v2's baseline and read once.
QUERIES = 10


def fragment(client: Client, project: Any, user: Any | None, agent: str = AGENT):
    if user is not None:
        client.force_login(user)
    url = reverse("bundle_verdicts", kwargs={"slug": project.slug, "agent": agent})
    return client.get(url, headers={"HX-Request": "true"})


def rows(html: str) -> list[tuple[str, str]]:
    """(bundle, verdict) per row, in order."""
    return re.findall(r'<tr data-bundle="([^"]*)">.*?data-testid="verdict-value">(\w+)<', html, re.S)


def test_every_member_gets_the_fragment_and_an_outsider_404(client, personas):
    seed(personas.project, "v1", 2, hours_ago=3)
    bundles_record()

    for role in ("viewer", "engineer", "reviewer", "admin"):
        assert fragment(client, personas.project, getattr(personas, role)).status_code == 200, role
    assert fragment(Client(), personas.project, personas.outsider).status_code == 404


def test_an_unknown_agent_is_404(client, personas):
    seed(personas.other_project, "v1", 2, hours_ago=3)  # another project's agent of that name
    bundles_record()

    assert fragment(client, personas.project, personas.admin).status_code == 404


def test_each_bundle_newest_first_with_its_verdict_and_a_link_to_the_comparison(client, personas):
    seed(personas.project, "v1", 2, hours_ago=6)
    seed(personas.project, "v2", 31, hours_ago=4)
    seed(personas.project, "v3", 31, hours_ago=2, regressed=True)
    bundles_record()

    html = fragment(client, personas.project, personas.viewer).text

    assert rows(html) == [("v3", "fail"), ("v2", "inconclusive"), ("v1", "inconclusive")]
    assert "critical metric failed: error_rate" in html
    assert "too few runs: 2 baseline, 31 candidate" in html
    assert "no baseline: the agent&#x27;s first bundle" in html
    page = reverse("bundle_compare", kwargs={"slug": personas.project.slug, "agent": AGENT})
    assert f'href="{page}?candidate=v3&amp;baseline=v2&amp;environment=prod"' in html


def test_at_most_the_ten_newest_bundles(client, personas):
    for i in range(11):
        seed(personas.project, f"v{i:02}", 1, hours_ago=12 - i)
    bundles_record()

    shown = [bundle for bundle, _ in rows(fragment(client, personas.project, personas.viewer).text)]

    assert shown == [f"v{i:02}" for i in range(10, 0, -1)]


def test_hostile_bundle_names_are_escaped(client, personas):
    seed(personas.project, "<img src=x onerror=alert(1)>", 2, hours_ago=3)
    seed(personas.project, '"};alert(1)//', 2, hours_ago=2)
    bundles_record()

    html = fragment(client, personas.project, personas.viewer).text

    assert "<img src=x" not in html and '"};alert' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&quot;};alert(1)//" in html
    assert "candidate=%22%7D%3Balert%281%29%2F%2F&amp;baseline=%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E" in html


def test_the_fragment_costs_the_same_queries_whatever_the_runs(client, personas, django_assert_num_queries):
    seed(personas.project, "v1", 2, hours_ago=5)
    seed(personas.project, "v2", 2, hours_ago=2)
    bundles_record()
    fragment(client, personas.project, personas.viewer)  # warm the per-process caches

    with django_assert_num_queries(QUERIES):
        assert fragment(client, personas.project, None).status_code == 200
    seed(personas.project, "v1", 6, hours_ago=4)
    seed(personas.project, "v2", 6, hours_ago=1, regressed=True)
    bundles_record()
    with django_assert_num_queries(QUERIES):
        assert fragment(client, personas.project, None).status_code == 200


def test_the_agent_dashboard_loads_the_verdicts_lazily(client, personas):
    seed(personas.project, "v1", 2, hours_ago=3)
    bundles_record()
    client.force_login(personas.viewer)

    html = client.get(reverse("agent_dashboard", kwargs={"slug": personas.project.slug, "agent": AGENT})).text

    url = reverse("bundle_verdicts", kwargs={"slug": personas.project.slug, "agent": AGENT})
    assert re.search(rf'hx-get="{re.escape(url)}" hx-trigger="load"', html)
    assert 'data-testid="verdict-value"' not in html  # not computed with the page
