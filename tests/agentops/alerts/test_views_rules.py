"""The rule list and the rule editor: fields per kind, errors by field, enable/disable and delete with
htmx, escaping, who may do what, and constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentops.alerts.models import AlertRule
from agentops.notify.services import channel_create
from tests.agentops.alerts.alert_factories import make_alert, make_rule

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def _rules(project, *rest):
    return "/".join([f"/p/{project.slug}/alerts/rules", *map(str, rest), ""])


def _as(client, user):
    client.force_login(user)
    return client


def test_the_list_shows_the_defaults_to_a_viewer_without_editing(client, personas):
    html = _as(client, personas.viewer).get(_rules(personas.project)).content.decode()
    assert "Drift of new bundles" in html and "Error rate" in html and html.count(">default</span>") == 2
    assert "New rule" not in html and "Disable</button>" not in html and "/rules/new/" not in html


def test_the_editor_shows_the_fields_of_the_kind(client, personas):
    client = _as(client, personas.engineer)
    fields = {
        "threshold": (
            ["id_metric", "id_warning", "id_critical", "id_scope_tool", "id_window_minutes"],
            ["id_limit_usd", "id_days"],
        ),
        "spike": (["id_days", "id_min_value", "id_warning"], ["id_limit_usd", "id_metrics_0"]),
        "budget": (
            ["id_limit_usd", "id_period", "id_timezone", "id_soft_percents", "id_scope_user"],
            ["id_warning", "id_scope_bundle", "id_window_minutes", "id_metric"],
        ),
        "drift": (["id_metrics_0", "id_window_minutes", "id_min_sample"], ["id_warning", "id_metric"]),
    }
    for kind, (shown, hidden) in fields.items():
        response = client.get(_rules(personas.project, "new"), {"kind": kind})
        html = response.content.decode()
        assert response.status_code == 200
        assert all(f'id="{f}"' in html for f in shown), (kind, [f for f in shown if f'id="{f}"' not in html])
        assert not any(f'id="{f}"' in html for f in hidden), (kind, [f for f in hidden if f'id="{f}"' in html])
    assert client.get(_rules(personas.project, "new"), {"kind": "weather"}).status_code == 404


def _threshold_form(**extra):
    return {
        "name": "Slow agent",
        "metric": "latency_p95_ms",
        "window_minutes": "15",
        "direction": "above",
        "warning": "2000",
        "critical": "5000",
        "min_sample": "10",
        "scope_agent": "support",
        "enabled": "on",
        **extra,
    }


def test_creating_a_threshold_rule(client, personas):
    channel = channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/x").channel
    client = _as(client, personas.engineer)
    form = _threshold_form(channels=[str(channel.pk)])
    response = client.post(f"{_rules(personas.project, 'new')}?kind=threshold", form)
    assert response.status_code == 302 and response["Location"] == _rules(personas.project)
    rule = AlertRule.objects.get(name="Slow agent")
    assert (rule.kind, rule.metric, rule.window_minutes, rule.warning, rule.critical) == (
        "threshold",
        "latency_p95_ms",
        15,
        2000,
        5000,
    )
    assert rule.scope == {"agent": "support"} and list(rule.channels.all()) == [channel]
    assert rule.created_by == personas.engineer and rule.enabled


def test_creating_a_budget_rule(client, personas):
    client = _as(client, personas.engineer)
    form = {
        "name": "Monthly",
        "limit_usd": "250",
        "period": "month",
        "timezone": "Europe/Paris",
        "soft_percents": "95, 80",
        "scope_user": "acme",
        "enabled": "on",
    }
    response = client.post(f"{_rules(personas.project, 'new')}?kind=budget", form)
    assert response.status_code == 302, response.content.decode()
    rule = AlertRule.objects.get(name="Monthly")
    assert rule.params == {"limit_usd": 250.0, "period": "month", "timezone": "Europe/Paris", "soft_percents": [80, 95]}
    assert rule.scope == {"user": "acme"}


@pytest.mark.parametrize(
    ("kind", "form", "field", "message"),
    [
        ("threshold", _threshold_form(warning="6000"), "critical", "critical level is higher"),
        ("threshold", _threshold_form(warning="", critical=""), "warning", "Set a warning level"),
        ("threshold", _threshold_form(window_minutes="0"), "window_minutes", "greater than or equal to 1"),
        (
            "budget",
            {"name": "B", "limit_usd": "10", "period": "day", "timezone": "Moon/Base", "soft_percents": "80"},
            "timezone",
            "IANA time zone",
        ),
        (
            "budget",
            {"name": "B", "limit_usd": "10", "period": "day", "timezone": "UTC", "soft_percents": "120"},
            "soft_percents",
            "each 1 to 99",
        ),
    ],
)
def test_errors_are_shown_by_their_field(client, personas, kind, form, field, message):
    response = _as(client, personas.engineer).post(f"{_rules(personas.project, 'new')}?kind={kind}", form)
    assert response.status_code == 400
    html = response.content.decode()
    block = html.split(f'class="field field-{field}"')[1].split('class="field ')[0]
    assert message in block, block
    assert not AlertRule.objects.filter(is_default=False).exists()


def test_editing_a_rule_keeps_its_kind_and_saves(client, personas):
    rule = make_rule(personas.project, name="Errors", metric="error_rate", warning=0.1, critical=0.3)
    client = _as(client, personas.engineer)
    html = client.get(_rules(personas.project, rule.pk)).content.decode()
    assert 'value="Errors"' in html and 'value="0.1"' in html and "Save rule" in html
    form = _threshold_form(name="Errors, stricter", metric="error_rate", warning="0.05", critical="0.2")
    assert client.post(_rules(personas.project, rule.pk), form).status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.warning, rule.critical, rule.kind) == ("Errors, stricter", 0.05, 0.2, "threshold")


def test_enable_disable_and_delete_with_htmx(client, personas):
    rule = make_rule(personas.project)
    make_alert(personas.project, rule)
    client = _as(client, personas.engineer)
    htmx = {"HTTP_HX_REQUEST": "true"}
    response = client.post(_rules(personas.project, rule.pk, "enabled"), {"enabled": "0"}, **htmx)
    html = response.content.decode()
    assert response.status_code == 200 and html.startswith(f'<tbody id="rule-{rule.pk}"') and "Enable</button>" in html
    assert not AlertRule.objects.get(pk=rule.pk).enabled
    response = client.post(_rules(personas.project, rule.pk, "enabled"), {"enabled": "1"}, **htmx)
    assert "Disable</button>" in response.content.decode() and AlertRule.objects.get(pk=rule.pk).enabled
    response = client.post(_rules(personas.project, rule.pk, "delete"), **htmx)
    assert response.status_code == 200 and response.content == b""
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


def test_hostile_values_are_escaped(client, personas):
    rule = make_rule(personas.project, name=HOSTILE, scope={"agent": HOSTILE, "user": HOSTILE})
    client = _as(client, personas.engineer)
    for url in (_rules(personas.project), _rules(personas.project, rule.pk)):
        html = client.get(url).content.decode()
        assert HOSTILE not in html and ESCAPED in html, url


def test_a_viewer_cannot_edit(client, personas):
    rule = make_rule(personas.project)
    client = _as(client, personas.viewer)
    assert client.get(_rules(personas.project, "new")).status_code == 404
    assert client.get(_rules(personas.project, rule.pk)).status_code == 404
    assert client.post(f"{_rules(personas.project, 'new')}?kind=threshold", _threshold_form()).status_code == 404
    assert client.post(_rules(personas.project, rule.pk), _threshold_form()).status_code == 404
    assert client.post(_rules(personas.project, rule.pk, "enabled"), {"enabled": "0"}).status_code == 404
    assert client.post(_rules(personas.project, rule.pk, "delete")).status_code == 404
    rule.refresh_from_db()
    assert rule.enabled and rule.name != "Slow agent"


def test_outsiders_and_other_projects_rules_get_404(client, personas):
    rule = make_rule(personas.project)
    foreign = make_rule(personas.other_project)
    outsider = _as(client, personas.outsider)
    assert outsider.get(_rules(personas.project)).status_code == 404
    assert outsider.post(_rules(personas.project, rule.pk, "delete")).status_code == 404
    client.force_login(personas.admin)
    assert client.get(_rules(personas.project, foreign.pk)).status_code == 404
    assert client.post(_rules(personas.project, foreign.pk, "delete")).status_code == 404
    assert AlertRule.objects.filter(pk__in=[rule.pk, foreign.pk]).count() == 2


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_whatever_the_number_of_rules(client, personas):
    channel = channel_create(project=personas.project, kind="slack", url="https://hooks.example.com/x").channel
    client = _as(client, personas.engineer)
    rule = make_rule(personas.project, channels=[channel.pk])
    make_alert(personas.project, rule)
    one = _queries(client, _rules(personas.project))
    editor = _queries(client, _rules(personas.project, rule.pk))
    for _ in range(4):
        make_alert(personas.project, make_rule(personas.project, channels=[channel.pk]))
    assert _queries(client, _rules(personas.project)) == one
    assert _queries(client, _rules(personas.project, rule.pk)) == editor
