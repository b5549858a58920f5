"""GET /api/v1/projects/<slug>/costs/: exact sums from the runs (a customer the hourly rollups leave
out included), the CSV export and its formula guard, and who may read it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from agentops.tenancy.services import api_token_create, ingest_key_create
from tests.agentops.costs.costs_factories import add_run
from traces.models import RunHourBreakdown
from traces.rollup_ledger import TOP_USERS
from traces.rollups import rebuild

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 10, 9, tzinfo=UTC)


def _as(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _url(project):
    return f"/api/v1/projects/{project.slug}/costs/"


def _csv(response):
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_a_small_customer_the_hourly_rollups_leave_out_is_counted_exactly(personas):
    project = personas.project
    # In one hour: TOP_USERS big customers and one tiny one, which the hour's top list does not keep.
    for i in range(TOP_USERS):
        for minute in (1, 2):
            add_run(
                project,
                at=MARCH + timedelta(minutes=minute),
                customer=f"big-{i}",
                cost="10.0000000001",
                input_tokens=100,
                output_tokens=10,
            )
    add_run(
        project, at=MARCH + timedelta(minutes=3), customer="tiny", cost="0.0000012345", input_tokens=7, output_tokens=3
    )
    add_run(project, at=MARCH + timedelta(days=1), customer="tiny", cost="0.5", input_tokens=1, output_tokens=1)
    # Outside the period, and another project's runs: never counted.
    add_run(project, at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC), customer="tiny", cost="100")
    add_run(personas.other_project, at=MARCH, customer="tiny", cost="100")
    rebuild([project.pk])
    top = RunHourBreakdown.objects.filter(project=project, dim=RunHourBreakdown.Dim.USER, hour=MARCH)
    assert "tiny" not in set(top.values_list("key", flat=True))  # the undercount this report avoids
    assert len(top) == TOP_USERS

    response = _as(personas.viewer).get(_url(project), {"by": "customer", "month": "2026-03"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["by"] == ["customer"] and body["from"] == "2026-03-01T00:00:00+00:00"
    rows = {r["customer"]: r for r in body["results"]}
    assert rows["tiny"] == {
        "customer": "tiny",
        "runs": 2,
        "input_tokens": 8,
        "output_tokens": 4,
        "cost_usd": float(Decimal("0.5000012345")),
    }
    assert rows["big-0"]["runs"] == 2 and rows["big-0"]["cost_usd"] == 20.0000000002
    assert len(rows) == TOP_USERS + 1
    assert body["results"][-1]["customer"] == "tiny"  # the costliest first
    assert body["totals"]["runs"] == 2 * TOP_USERS + 2

    exported = _csv(_as(personas.viewer).get(_url(project), {"by": "customer", "month": "2026-03", "format": "csv"}))
    assert exported[0] == ["customer", "from", "to", "runs", "input_tokens", "output_tokens", "cost_usd"]
    tiny = next(r for r in exported[1:] if r[0] == "tiny")
    assert tiny == ["tiny", "2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00", "2", "8", "4", "0.5000012345"]


def test_by_agent_bundle_and_customer_with_agent_over_a_range(personas):
    project = personas.project
    add_run(project, at=MARCH, customer="acme", agent="support", bundle="v1", cost="1")
    add_run(project, at=MARCH, customer="acme", agent="billing", bundle="v1", cost="2")
    add_run(project, at=MARCH, customer="globex", agent="support", bundle="v2", cost="4")
    add_run(project, at=MARCH, customer="", agent="support", bundle="", cost="8")
    client = _as(personas.viewer)
    span = {"from": "2026-03-10", "to": "2026-03-11"}

    def groups(by):
        response = client.get(_url(project), {**span, "by": by})
        assert response.status_code == 200, response.content
        return {tuple(v for k, v in r.items() if k in by.split(",")): r["cost_usd"] for r in response.json()["results"]}

    assert groups("agent") == {("support",): 13.0, ("billing",): 2.0}
    assert groups("bundle") == {("v1",): 3.0, ("v2",): 4.0, ("",): 8.0}
    assert groups("customer,agent") == {
        ("acme", "support"): 1.0,
        ("acme", "billing"): 2.0,
        ("globex", "support"): 4.0,
        ("", "support"): 8.0,
    }
    assert client.get(_url(project), {"from": "2026-03-11", "to": "2026-03-12"}).json()["results"] == []


def test_csv_cells_a_spreadsheet_would_run_are_guarded(personas):
    project = personas.project
    hostile = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2", "@SUM(A1)", "\tx", 'quote " and\nnewline']
    for name in hostile:
        add_run(project, at=MARCH, customer=name, agent="=cmd|' /C calc'!A0", cost="1")
    response = _as(personas.viewer).get(_url(project), {"by": "customer,agent", "month": "2026-03", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response.streaming and "attachment" in response["Content-Disposition"]
    rows = _csv(response)[1:]
    customers = {r[0] for r in rows}
    assert customers == {"'" + h for h in hostile[:5]} | {hostile[5]}
    assert {r[1] for r in rows} == {"'=cmd|' /C calc'!A0"}


def test_a_bad_parameter_is_400_naming_it(personas):
    response = _as(personas.viewer).get(_url(personas.project), {"by": "tenant", "format": "csv"})
    assert response.status_code == 400
    assert response.json()["field"] == "by"


def test_every_member_reads_costs_an_outsider_and_an_ingest_key_do_not(personas):
    add_run(personas.project, at=datetime.now(UTC), customer="acme", cost="1")
    for user in (personas.viewer, personas.engineer, personas.reviewer, personas.admin):
        response = _as(user).get(_url(personas.project))
        assert response.status_code == 200 and response.json()["results"][0]["customer"] == "acme"
    assert _as(personas.outsider).get(_url(personas.project)).status_code == 404
    key = ingest_key_create(project=personas.project).secret
    assert Client(HTTP_AUTHORIZATION=f"Bearer {key}").get(_url(personas.project)).status_code in (403, 404)
    assert Client().get(_url(personas.project)).status_code == 401


def test_the_openapi_schema_names_the_reports_parameters(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    operation = response.json()["paths"]["/api/v1/projects/{slug}/costs/"]["get"]
    assert {"by", "from", "to", "month", "format"} <= {p["name"] for p in operation["parameters"]}
