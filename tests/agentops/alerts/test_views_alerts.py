"""The alerts page and an alert's page: tabs, filters, links, history, deliveries, actions, escaping,
who may do what, and constant queries."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentops.alerts import views
from agentops.alerts.models import Alert, AlertEvent
from agentops.alerts.presenters import runs_path
from agentops.notify.models import DeliveryAttempt, OutboxMessage
from agentops.notify.services import channel_create, enqueue
from tests.agentops.alerts.alert_factories import make_alert, make_rule

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def _page(project, *rest):
    return "/".join([f"/p/{project.slug}/alerts", *map(str, rest), ""])


def _as(client, user):
    client.force_login(user)
    return client


def test_the_tab_and_the_open_alerts(client, personas):
    project = personas.project
    rule = make_rule(project, name="Latency rule")
    warning = make_alert(project, rule, severity="warning", minutes_ago=10, summary="p95 is 2.1 s")
    critical = make_alert(project, rule, severity="critical", minutes_ago=1, summary="p95 is 9 s")
    make_alert(project, state="resolved", summary="an old one")
    html = _as(client, personas.viewer).get(_page(project)).content.decode()
    assert f'href="{_page(project)}" class="active">Alerts</a>' in html
    assert html.index("p95 is 9 s") < html.index("p95 is 2.1 s")  # newest first
    assert "an old one" not in html
    assert "Latency rule" in html and "severity-critical" in html
    assert f'href="{_page(project, critical.pk)}"' in html and f'href="{_page(project, warning.pk)}"' in html
    assert "Acknowledge</button>" not in html  # acting happens on an alert's page


def test_filters_by_state_severity_and_rule(client, personas):
    project = personas.project
    rule = make_rule(project)
    make_alert(project, rule, severity="critical", summary="critical one")
    make_alert(project, severity="warning", summary="warning one")
    make_alert(project, state="acknowledged", summary="acked one")
    make_alert(project, state="resolved", summary="resolved one")
    client = _as(client, personas.viewer)

    def shown(params):
        html = client.get(_page(project), params).content.decode()
        return {s for s in ("critical one", "warning one", "acked one", "resolved one") if s in html}

    assert shown({}) == {"critical one", "warning one"}
    assert shown({"severity": "critical"}) == {"critical one"}
    assert shown({"rule": rule.pk}) == {"critical one"}
    assert shown({"state": "acknowledged"}) == {"acked one"}
    assert shown({"state": "resolved"}) == {"resolved one"}
    response = client.get(_page(project), {"severity": "bogus"})
    assert response.status_code == 400 and "severity: Choose one of" in response.content.decode()


def test_links_to_the_runs_and_for_drift_to_the_comparison(client, personas):
    project = personas.project
    drift_rule = project.alert_rules.get(kind="drift")
    scope = {"agent": "support & co", "bundle": "v2?x=1", "environment": "prod"}
    alert = make_alert(
        project,
        drift_rule,
        scope=scope,
        details={"baseline": "v1"},
        runs_filter={"agent": "support & co", "bundle": "v2?x=1"},
    )
    runs = runs_path(alert)
    assert urlsplit(runs).path == f"/p/{project.slug}/runs/"
    assert parse_qs(urlsplit(runs).query) == {"agent": ["support & co"], "bundle": ["v2?x=1"]}

    link = views.compare_link(alert)
    assert link is not None
    # The agent's name is a path segment, encoded: "&" cannot start a query of its own.
    assert urlsplit(link).path == f"/p/{project.slug}/agents/support%20&%20co/compare/"
    assert parse_qs(urlsplit(link).query) == {"candidate": ["v2?x=1"], "baseline": ["v1"], "environment": ["prod"]}
    assert views.compare_link(make_alert(project)) is None  # a threshold alert has none


def test_hostile_values_are_escaped(client, personas):
    project = personas.project
    rule = make_rule(project, name=HOSTILE, scope={"agent": HOSTILE})
    alert = make_alert(project, rule, scope={"agent": HOSTILE}, summary=HOSTILE)
    alert_event = AlertEvent.objects.get(alert=alert)
    AlertEvent.objects.filter(pk=alert_event.pk).update(note=HOSTILE)
    client = _as(client, personas.engineer)
    for url in (_page(project), _page(project, alert.pk)):
        html = client.get(url).content.decode()
        assert HOSTILE not in html and ESCAPED in html, url


def test_the_alert_page_shows_history_and_deliveries(client, personas):
    project = personas.project
    channel = channel_create(project=project, kind="slack", url="https://hooks.example.com/x", name="ops-slack").channel
    alert = make_alert(project, summary="error rate 30%")
    [message] = enqueue(project, "opened", {"summary": "s"}, key=f"alert:{alert.pk}:opened:1")
    DeliveryAttempt.objects.create(
        message=message,
        channel=channel,
        at=alert.opened_at,
        duration_ms=12,
        status_code=500,
        error="HTTP 500 boom",
        ok=False,
    )
    other = make_alert(project)
    enqueue(project, "opened", {"summary": "s"}, key=f"alert:{other.pk}:opened:2")  # another alert's: not shown
    enqueue(project, "opened", {"summary": "s"}, key=f"alert:{alert.pk}0:opened:3")  # alert 10x's, not alert x's
    html = _as(client, personas.viewer).get(_page(project, alert.pk)).content.decode()
    assert "error rate 30%" in html and "Opened" in html
    assert html.count('class="delivery"') == 1
    assert "ops-slack" in html and "HTTP 500 boom" in html and "(HTTP 500)" in html
    assert 'class="event event-opened"' in html
    assert "Acknowledge" not in html and "Mute" not in html  # a Viewer acts on nothing


def test_acknowledge_mute_and_unmute_with_htmx(client, personas):
    alert = make_alert(personas.project)
    client = _as(client, personas.engineer)
    htmx = {"HTTP_HX_REQUEST": "true"}
    page = _as(client, personas.engineer).get(_page(personas.project, alert.pk)).content.decode()
    assert "Acknowledge</button>" in page and "Mute</button>" in page

    response = client.post(_page(personas.project, alert.pk, "acknowledge"), {"note": "looking"}, **htmx)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="alert-live">')
    assert f"acknowledged by {personas.engineer.email}" in html and "“looking”" in html
    assert "Acknowledge</button>" not in html

    response = client.post(_page(personas.project, alert.pk, "mute"), {"minutes": "240"}, **htmx)
    assert "muted until" in response.content.decode() and "Unmute</button>" in response.content.decode()
    response = client.post(_page(personas.project, alert.pk, "unmute"), **htmx)
    assert "muted until" not in response.content.decode()

    # Acknowledged already: refused with the reason, nothing recorded.
    response = client.post(_page(personas.project, alert.pk, "acknowledge"), **htmx)
    assert response.status_code == 409 and "Only an open alert" in response.content.decode()
    assert client.post(_page(personas.project, alert.pk, "mute"), {"minutes": "7"}, **htmx).status_code == 409
    events = list(AlertEvent.objects.filter(alert=alert).values_list("event", flat=True))
    assert events == ["opened", "acknowledged", "muted", "unmuted"]


def test_a_plain_post_redirects_to_the_alert(client, personas):
    alert = make_alert(personas.project)
    response = _as(client, personas.admin).post(_page(personas.project, alert.pk, "acknowledge"))
    assert response.status_code == 302 and response["Location"] == _page(personas.project, alert.pk)
    assert Alert.objects.get(pk=alert.pk).state == "acknowledged"


def test_a_viewer_cannot_act(client, personas):
    alert = make_alert(personas.project)
    client = _as(client, personas.viewer)
    for action in ("acknowledge", "mute", "unmute"):
        assert client.post(_page(personas.project, alert.pk, action), {"minutes": "60"}).status_code == 404
    alert.refresh_from_db()
    assert alert.state == "open" and alert.muted_until is None


def test_outsiders_and_other_projects_alerts_get_404(client, personas):
    alert = make_alert(personas.project)
    foreign = make_alert(personas.other_project)
    outsider = _as(client, personas.outsider)
    assert outsider.get(_page(personas.project)).status_code == 404
    assert outsider.get(_page(personas.project, alert.pk)).status_code == 404
    assert outsider.post(_page(personas.project, alert.pk, "acknowledge")).status_code == 404
    client.force_login(personas.admin)
    assert client.get(_page(personas.project, foreign.pk)).status_code == 404
    assert client.post(_page(personas.project, foreign.pk, "acknowledge")).status_code == 404
    assert Alert.objects.get(pk=foreign.pk).state == "open"


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_pages_cost_the_same_queries_whatever_the_data(client, personas):
    project = personas.project
    channel = channel_create(project=project, kind="slack", url="https://hooks.example.com/x").channel
    client = _as(client, personas.engineer)
    alert = make_alert(project, acknowledged_by=personas.admin)
    [message] = enqueue(project, "opened", {}, key=f"alert:{alert.pk}:opened:1")
    DeliveryAttempt.objects.create(message=message, channel=channel, at=alert.opened_at, duration_ms=1, ok=True)
    listing, detail = _queries(client, _page(project)), _queries(client, _page(project, alert.pk))
    for n in range(4):
        make_alert(project, acknowledged_by=personas.engineer)
        other = channel_create(project=project, kind="slack", url="https://hooks.example.com/y", name=f"c{n}").channel
        for m in enqueue(project, "reminder", {}, [other], key=f"alert:{alert.pk}:reminder:{n}"):
            DeliveryAttempt.objects.create(message=m, channel=other, at=alert.opened_at, duration_ms=1, ok=True)
        AlertEvent.objects.create(
            project=project,
            alert=alert,
            event="reminder",
            at=alert.opened_at,
            severity="warning",
            summary="s",
            user=personas.admin,
        )
    assert OutboxMessage.objects.count() == 5
    assert _queries(client, _page(project)) == listing
    assert _queries(client, _page(project, alert.pk)) == detail
