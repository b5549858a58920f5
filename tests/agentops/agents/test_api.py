"""/api/v1/projects/<slug>/bundles/: bundles with their baselines; PATCH a baseline (Engineer and above)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from agentops.agents.models import Bundle
from agentops.agents.services import bundles_record
from agentops.tenancy import services
from agentops.tenancy.models import AuditEvent
from tests.agentops.alerts.runs import seed
from traces import rollups

pytestmark = pytest.mark.django_db


def call(client: Client, user: Any, method: str, url: str, body: Any = None):
    headers = {"Authorization": f"Bearer {services.api_token_create(user=user).secret}"}
    if method == "get":
        return client.get(url, headers=headers)
    return client.patch(url, body, content_type="application/json", headers=headers)


@pytest.fixture
def bundles(personas) -> dict[str, Bundle]:
    for name, hours in (("v1", 5), ("v2", 3), ("v3", 1)):
        seed(personas.project, name, 2, hours_ago=hours)
    rollups.refresh()
    bundles_record()
    return {b.name: b for b in Bundle.objects.filter(project=personas.project)}


def url(personas, bundle: Bundle | None = None) -> str:
    base = f"/api/v1/projects/{personas.project.slug}/bundles/"
    return f"{base}{bundle.pk}/" if bundle else base


def test_a_viewer_lists_bundles_with_their_baselines(client, personas, bundles):
    body = call(client, personas.viewer, "get", url(personas)).json()

    assert [(b["name"], b["baseline"] and b["baseline"]["name"]) for b in body["results"]] == [
        ("v3", "v2"),
        ("v2", "v1"),
        ("v1", None),
    ]
    first = body["results"][0]
    assert (first["agent"], first["environment"], first["run_count"], first["baseline_set_by"]) == (
        "support-bot",
        "prod",
        2,
        "auto",
    )


def test_an_engineer_pins_a_baseline_by_name_or_id_and_resets_it(client, personas, bundles):
    v3 = bundles["v3"]

    by_name = call(client, personas.engineer, "patch", url(personas, v3), {"baseline": "v1"})
    by_id = call(client, personas.engineer, "patch", url(personas, v3), {"baseline": bundles["v2"].pk})
    call(client, personas.engineer, "patch", url(personas, v3), {"baseline": "v1"})
    reset = call(client, personas.engineer, "patch", url(personas, v3), {"baseline": None})

    assert by_name.status_code == 200
    assert (by_name.json()["baseline"]["name"], by_name.json()["baseline_set_by"]) == ("v1", "user")
    assert by_id.json()["baseline"]["name"] == "v2"
    assert (reset.json()["baseline"]["name"], reset.json()["baseline_set_by"]) == ("v2", "auto")
    event = AuditEvent.objects.filter(action="bundle.baseline_set").order_by("-id").first()
    assert event is not None and event.actor == personas.engineer
    assert (event.before, event.after) == ({"baseline": "v1", "set_by": "user"}, {"baseline": "v2", "set_by": "auto"})


def test_a_viewer_cannot_set_a_baseline(client, personas, bundles):
    response = call(client, personas.viewer, "patch", url(personas, bundles["v3"]), {"baseline": "v1"})

    # The chokepoint answers a missing permission as it answers an outsider: 404.
    assert response.status_code == 404
    assert Bundle.objects.get(pk=bundles["v3"].pk).baseline_set_by == "auto"


@pytest.mark.parametrize("wanted", ["v9", 999999, True, ["v1"]])
def test_a_baseline_must_be_a_bundle_of_the_agent(client, personas, bundles, wanted):
    response = call(client, personas.engineer, "patch", url(personas, bundles["v3"]), {"baseline": wanted})

    assert response.status_code == 400


def test_a_bundle_of_another_agent_or_itself_is_refused(client, personas, bundles):
    v3 = bundles["v3"]

    itself = call(client, personas.engineer, "patch", url(personas, v3), {"baseline": v3.pk})
    no_field = call(client, personas.engineer, "patch", url(personas, v3), {})

    assert itself.status_code == 400 and "its own baseline" in itself.json()["baseline"]
    assert no_field.status_code == 400


def test_outsiders_get_404(client, personas, bundles):
    v3 = bundles["v3"]
    for method in ("get", "patch"):
        assert call(client, personas.outsider, method, url(personas, v3), {"baseline": "v1"}).status_code == 404
    assert call(client, personas.outsider, "get", url(personas)).status_code == 404
    # Its id under the outsider's own project: still not found.
    other = f"/api/v1/projects/{personas.other_project.slug}/bundles/{v3.pk}/"
    assert call(client, personas.outsider, "get", other).status_code == 404
    assert call(client, personas.outsider, "patch", other, {"baseline": None}).status_code == 404


def test_the_list_costs_the_same_queries_however_many_bundles(client, personas, bundles):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"Authorization": f"Bearer {services.api_token_create(user=personas.viewer).secret}"}

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(personas), headers=headers).status_code == 200
        return len(captured)

    queries()  # warm: the token's last use and the content types are written and cached once
    few = queries()
    for name, hours in (("v4", 0.5), ("v5", 0.4), ("v6", 0.3)):
        seed(personas.project, name, 1, hours_ago=hours)
    rollups.refresh()
    bundles_record()

    assert queries() == few
