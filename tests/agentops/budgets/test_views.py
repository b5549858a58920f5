"""/p/<slug>/budgets/: every member reads each budget with its spend and history chart; Admins create,
change and delete through the forms (errors beside their field); others and outsiders cannot."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agentops.budgets import reservations, services
from agentops.budgets.models import Budget
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import ingest_key_create
from tests.agentops.costs.costs_factories import add_run

pytestmark = pytest.mark.django_db


def _url(project, tail=""):
    return f"/p/{project.slug}/budgets/{tail}"


def _form(**overrides):
    data = {
        "scope_kind": "customer",
        "scope_value": "acme",
        "limit_usd": "100",
        "window": "month",
        "rolling_hours": "",
        "timezone": "Europe/Berlin",
        "soft_percent": "50, 80",
        "hard": "on",
    }
    return {**data, **overrides}


def test_a_viewer_reads_spend_held_remaining_reset_and_the_chart(client, personas):
    project = personas.project
    budget = services.budget_create(
        project=project,
        data={"scope": {"customer": "<img src=x onerror=alert(1)>"}, "limit_usd": 10, "window": "day"},
        user=personas.admin,
    )
    add_run(project, at=datetime.now(UTC), customer="<img src=x onerror=alert(1)>", cost="1.5")
    key = ingest_key_create(project=project).key
    held = reservations.reservation_reserve(
        project=project, key=key, data={"estimate_usd": 2, "scope": {"customer": "<img src=x onerror=alert(1)>"}}
    )
    assert held.allowed
    client.force_login(personas.viewer)
    response = client.get(_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert "$1.5000" in html and "$2.0000" in html and "$6.5000" in html  # spent, held, remaining
    assert "35% used" in html and "Resets" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    script = re.search(rf'id="figure-budget-{budget.pk}" type="application/json">(.*?)</script>', html)
    assert script is not None
    figure = json.loads(script[1])
    assert figure["data"][0]["y"][-1] == 1.5 and len(figure["data"][0]["y"]) == 8
    assert "&lt;img" in figure["layout"]["title"]["text"]  # plotly draws HTML in titles: escaped
    assert "vendor/plotly.min.js" in html
    assert "Request a raise" in html
    assert _url(project, "new/") not in html and f"{budget.pk}/edit/" not in html  # read-only for a viewer


def test_an_admin_creates_changes_and_deletes_through_the_forms(client, personas):
    project = personas.project
    client.force_login(personas.admin)
    assert client.get(_url(project, "new/")).status_code == 200
    response = client.post(_url(project, "new/"), _form())
    assert response.status_code == 302, response.content.decode()
    budget = Budget.objects.get(project=project)
    assert (budget.scope, budget.limit_usd, budget.window, budget.timezone) == (
        {"customer": "acme"},
        Decimal(100),
        "month",
        "Europe/Berlin",
    )
    assert budget.soft_percent == [50.0, 80.0] and budget.hard is True
    page = client.get(_url(project)).content.decode()
    assert f"{budget.pk}/edit/" in page and "New budget" in page
    assert "-01 00:00 CE" in page  # the month resets at midnight in Berlin (CET or CEST), shown so

    edit = _url(project, f"{budget.pk}/edit/")
    assert 'value="acme"' in client.get(edit).content.decode()
    response = client.post(edit, _form(window="rolling", rolling_hours="48", hard="", soft_percent=""))
    assert response.status_code == 302
    budget.refresh_from_db()
    assert (budget.window, budget.hard, budget.soft_percent) == ("rolling:48", False, [])

    assert client.post(_url(project, f"{budget.pk}/delete/")).status_code == 302
    assert not Budget.objects.filter(project=project).exists()
    actions = list(AuditEvent.objects.filter(project=project, target_type="budget").values_list("action", flat=True))
    assert sorted(actions) == ["budget.create", "budget.delete", "budget.update"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA time zone"),
        ({"scope_value": ""}, "scope_value", "non-empty string"),
        ({"window": "rolling", "rolling_hours": ""}, "rolling_hours", "rolling:&lt;hours&gt;"),
        ({"soft_percent": "150"}, "soft_percent", "from 1 to 99"),
        ({"limit_usd": "0"}, "limit_usd", "greater than 0"),
    ],
)
def test_a_refused_field_shows_its_error_beside_it_and_nothing_is_stored(client, personas, overrides, field, message):
    client.force_login(personas.admin)
    response = client.post(_url(personas.project, "new/"), _form(**overrides))
    assert response.status_code == 400
    html = response.content.decode()
    block = html[html.index(f'class="field field-{field}"') :]
    block = block[: block.index("</div>")]
    assert 'class="errorlist' in block and message in block, block
    assert not Budget.objects.exists()


def test_only_admins_write_and_another_projects_budget_is_404(client, personas):
    project = personas.project
    budget = services.budget_create(project=project, data={"limit_usd": 5, "window": "day"}, user=personas.admin)
    for user in (personas.viewer, personas.engineer, personas.reviewer):
        client.force_login(user)
        assert client.get(_url(project)).status_code == 200
        assert client.post(_url(project, "new/"), _form()).status_code == 404
        assert client.post(_url(project, f"{budget.pk}/edit/"), _form()).status_code == 404
        assert client.post(_url(project, f"{budget.pk}/delete/")).status_code == 404
    client.force_login(personas.outsider)
    assert client.get(_url(project)).status_code == 404
    other = services.budget_create(
        project=personas.other_project, data={"limit_usd": 5, "window": "day"}, user=personas.outsider
    )
    client.force_login(personas.admin)
    assert client.get(_url(project, f"{other.pk}/edit/")).status_code == 404
    assert client.post(_url(project, f"{other.pk}/delete/")).status_code == 404
    assert Budget.objects.count() == 2
