"""/p/<slug>/costs/: the month's customer x agent table with subtotals and totals, the CSV link, and who
may open it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.agentops.costs.costs_factories import add_run

pytestmark = pytest.mark.django_db


def _page(client, project, **params):
    return client.get(f"/p/{project.slug}/costs/", params)


def test_the_month_table_has_subtotals_totals_and_a_csv_link(client, personas):
    project = personas.project
    at = datetime(2026, 3, 10, tzinfo=UTC)
    add_run(project, at=at, customer="acme", agent="support", cost="1.25", input_tokens=10, output_tokens=1)
    add_run(project, at=at, customer="acme", agent="billing", cost="2", input_tokens=20, output_tokens=2)
    add_run(project, at=at, customer="<b>globex</b>", agent="support", cost="4")
    add_run(project, at=datetime(2026, 4, 1, tzinfo=UTC), customer="acme", agent="support", cost="100")
    client.force_login(personas.viewer)
    response = _page(client, project, month="2026-03")
    assert response.status_code == 200
    html = response.content.decode()
    assert "acme in all" in html and "3.250000" in html  # acme's subtotal over its two agents
    assert "7.250000" in html and "100.000000" not in html  # the month's total; April's run left out
    assert "&lt;b&gt;globex&lt;/b&gt;" in html and "<b>globex</b>" not in html
    assert "by=customer%2Cagent&amp;month=2026-03&amp;format=csv" in html
    csv = client.get(f"/api/v1/projects/{project.slug}/costs/?by=customer,agent&month=2026-03&format=csv")
    assert csv.status_code == 200  # the link works with the page's session


def test_a_bad_month_says_so_and_shows_the_current_month(client, personas):
    client.force_login(personas.viewer)
    response = _page(client, personas.project, month="2026-13")
    assert response.status_code == 400
    assert "must be a month as YYYY-MM" in response.content.decode()


def test_an_outsider_gets_404(client, personas):
    client.force_login(personas.outsider)
    assert _page(client, personas.project).status_code == 404


def test_the_page_costs_the_same_queries_whatever_the_number_of_customers(client, personas):
    project = personas.project
    at = datetime(2026, 3, 10, tzinfo=UTC)
    client.force_login(personas.viewer)
    add_run(project, at=at, customer="c-0", agent="a", cost="1")
    with CaptureQueriesContext(connection) as few:
        assert _page(client, project, month="2026-03").status_code == 200
    for i in range(1, 30):
        add_run(project, at=at, customer=f"c-{i}", agent=f"a-{i % 3}", cost="1")
    with CaptureQueriesContext(connection) as many:
        assert _page(client, project, month="2026-03").status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
