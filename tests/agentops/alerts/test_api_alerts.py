"""/api/v1/projects/<slug>/alerts/: filters, paging, one alert with its history, and the actions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agentops.alerts.models import Alert, AlertEvent
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import api_token_create
from tests.agentops.alerts.alert_factories import make_alert, make_rule

pytestmark = pytest.mark.django_db


def _url(project, *rest):
    return "/".join([f"/api/v1/projects/{project.slug}/alerts", *map(str, rest), ""])


def _as(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _post(api, url, body=None):
    return api.post(url, body or {}, content_type="application/json")


def test_the_list_filters_by_state_severity_and_rule_newest_first(personas):
    project = personas.project
    rule = make_rule(project)
    older = make_alert(project, rule, severity="critical", minutes_ago=30)
    newer = make_alert(project, rule, severity="warning", minutes_ago=1)
    acked = make_alert(project, severity="warning", state="acknowledged")
    make_alert(project, state="resolved")
    api = _as(personas.viewer)

    body = api.get(_url(project), {"state": "open"}).json()
    assert [a["id"] for a in body["results"]] == [newer.pk, older.pk] and body["next"] is None
    first = body["results"][0]
    assert first["rule"] == {"id": rule.pk, "name": rule.name} and first["kind"] == "threshold"
    assert first["state"] == "open" and first["value"] == 0.2 and first["baseline_value"] == 0.1
    assert first["url"].endswith(f"/p/{project.slug}/alerts/{newer.pk}/")
    assert "/runs/?" in first["runs_url"] and "status=error" in first["runs_url"]

    assert [a["id"] for a in api.get(_url(project), {"severity": "critical"}).json()["results"]] == [older.pk]
    assert [a["id"] for a in api.get(_url(project), {"state": "acknowledged"}).json()["results"]] == [acked.pk]
    assert {a["id"] for a in api.get(_url(project), {"rule": rule.pk}).json()["results"]} == {older.pk, newer.pk}
    assert len(api.get(_url(project)).json()["results"]) == 4


def test_the_list_pages_with_a_cursor(personas):
    made = [make_alert(personas.project, minutes_ago=m) for m in range(1, 6)]
    api = _as(personas.viewer)
    seen: list[int] = []
    url, params = _url(personas.project), {"limit": 2}

    while url:
        body = api.get(url, params).json()
        seen += [a["id"] for a in body["results"]]
        url, params = body["next"], {}
    assert seen == [a.pk for a in made]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "lost"}, "state"),
        ({"severity": "meh"}, "severity"),
        ({"rule": "x"}, "rule"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "!!"}, "cursor"),
    ],
)
def test_a_bad_filter_is_400_naming_it(personas, params, field):
    response = _as(personas.viewer).get(_url(personas.project), params)
    assert response.status_code == 400 and field in response.json()


def test_one_alert_with_its_history(personas):
    alert = make_alert(personas.project, summary="p95 1.2 s <b>bold</b>")
    body = _as(personas.viewer).get(_url(personas.project, alert.pk)).json()
    assert body["id"] == alert.pk and body["summary"] == "p95 1.2 s <b>bold</b>"
    assert [e["event"] for e in body["events"]] == ["opened"]


def test_an_engineer_acknowledges_mutes_and_unmutes(personas):
    alert = make_alert(personas.project)
    api = _as(personas.engineer)
    response = _post(api, _url(personas.project, alert.pk, "acknowledge"), {"note": "on it"})
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "acknowledged" and response.json()["acknowledged_by"] == personas.engineer.email
    # Twice is a conflict with the alert's state, not a bad request.
    response = _post(api, _url(personas.project, alert.pk, "acknowledge"))
    assert response.status_code == 409 and "state" in response.json()

    response = _post(api, _url(personas.project, alert.pk, "mute"), {"minutes": 60})
    assert response.status_code == 200 and response.json()["muted"] is True
    response = _post(api, _url(personas.project, alert.pk, "mute"), {"until": "2999-01-01T00:00:00Z"})
    assert response.status_code == 200 and response.json()["muted_until"].startswith("2999-01-01")
    response = _post(api, _url(personas.project, alert.pk, "unmute"))
    assert response.status_code == 200 and response.json()["muted"] is False
    assert _post(api, _url(personas.project, alert.pk, "unmute")).status_code == 409

    events = list(AlertEvent.objects.filter(alert=alert).values_list("event", "user_id", "note"))
    assert events[1:] == [
        ("acknowledged", personas.engineer.pk, "on it"),
        ("muted", personas.engineer.pk, ""),
        ("muted", personas.engineer.pk, ""),
        ("unmuted", personas.engineer.pk, ""),
    ]
    assert AuditEvent.objects.filter(action__startswith="alert.", actor=personas.engineer).count() == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": "60"}, "minutes"),
        ({"minutes": 60, "until": "2999-01-01T00:00:00Z"}, "minutes"),
        ({"until": "tomorrow"}, "until"),
        ({"until": "2999-01-01T00:00:00"}, "until"),  # no time zone
        ({"until": "2000-01-01T00:00:00Z"}, "until"),  # the past
        ({"minutes": 60, "snooze": True}, "snooze"),
        ({"minutes": 60, "note": 5}, "note"),
    ],
)
def test_a_bad_mute_is_400_naming_the_field(personas, body, field):
    alert = make_alert(personas.project)
    response = _post(_as(personas.engineer), _url(personas.project, alert.pk, "mute"), body)
    assert response.status_code == 400 and field in response.json(), response.json()
    alert.refresh_from_db()
    assert alert.muted_until is None


def test_a_viewer_reads_but_cannot_act(personas):
    alert = make_alert(personas.project)
    api = _as(personas.viewer)
    assert api.get(_url(personas.project, alert.pk)).status_code == 200
    for action, body in (("acknowledge", {}), ("mute", {"minutes": 60}), ("unmute", {})):
        assert _post(api, _url(personas.project, alert.pk, action), body).status_code == 404
    alert.refresh_from_db()
    assert alert.state == "open" and alert.muted_until is None


def test_outsiders_and_other_projects_alerts_get_404(personas):
    alert = make_alert(personas.project)
    foreign = make_alert(personas.other_project)
    outsider = _as(personas.outsider)
    assert outsider.get(_url(personas.project)).status_code == 404
    assert outsider.get(_url(personas.project, alert.pk)).status_code == 404
    assert _post(outsider, _url(personas.project, alert.pk, "acknowledge")).status_code == 404
    admin = _as(personas.admin)
    assert admin.get(_url(personas.project, foreign.pk)).status_code == 404
    assert _post(admin, _url(personas.project, foreign.pk, "acknowledge")).status_code == 404
    assert foreign.pk not in [a["id"] for a in admin.get(_url(personas.project)).json()["results"]]
    assert Alert.objects.get(pk=foreign.pk).state == "open"


def _queries(api, url):
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).status_code == 200
    return len(queries)


def test_list_and_detail_cost_the_same_queries_whatever_the_data(personas):
    api = _as(personas.viewer)
    alert = make_alert(personas.project, acknowledged_by=personas.admin, state="acknowledged")
    api.get(_url(personas.project))  # the token's first use is recorded once: not part of the page
    one = _queries(api, _url(personas.project))
    detail = _queries(api, _url(personas.project, alert.pk))
    for _ in range(4):
        make_alert(personas.project, acknowledged_by=personas.engineer, state="acknowledged")
    AlertEvent.objects.create(
        project=personas.project,
        alert=alert,
        event="muted",
        at=alert.opened_at,
        severity="warning",
        summary="s",
        user=personas.admin,
    )
    assert _queries(api, _url(personas.project)) == one
    assert _queries(api, _url(personas.project, alert.pk)) == detail
