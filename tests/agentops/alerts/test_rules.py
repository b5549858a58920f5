"""agentops.alerts.rules: each check names its field, writes are audited, defaults are made once."""

from __future__ import annotations

from typing import Any

import pytest

from agentops.alerts import rules
from agentops.alerts.models import AlertRule
from agentops.notify.services import channel_create
from agentops.tenancy.models import AuditEvent
from tests.agentops.alerts.alert_factories import make_alert, make_rule
from tests.factories import make_project, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return make_project()


def _threshold(**extra: Any) -> dict[str, Any]:
    return {"name": "Slow", "kind": "threshold", "metric": "latency_p95_ms", "warning": 2000, "critical": 5000, **extra}


def _budget(**params: Any) -> dict[str, Any]:
    return {"name": "Spend", "kind": "budget", "params": {"limit_usd": 100, "period": "month", **params}}


def test_every_project_starts_with_the_default_rules_once(project):
    defaults = AlertRule.objects.filter(project=project).order_by("name")
    assert [(r.name, r.kind, r.metric, r.is_default) for r in defaults] == [
        ("Drift of new bundles", "drift", "", True),
        ("Error rate", "threshold", "error_rate", True),
    ]
    drift = defaults[0]
    assert drift.window_minutes == 1440 and drift.min_sample == 20
    assert drift.params == {"metrics": list(rules.DRIFT_DEFAULT_METRICS)}
    error_rate = defaults[1]
    assert (error_rate.warning, error_rate.critical, error_rate.window_minutes) == (0.1, 0.25, 60)
    assert rules.ensure_default_rules(project) == []
    assert AlertRule.objects.filter(project=project).count() == 2


def test_a_missing_default_is_made_again_and_only_it(project):
    AlertRule.objects.filter(project=project, kind="drift").delete()
    made = rules.ensure_default_rules(project)
    assert [r.kind for r in made] == ["drift"]
    assert AlertRule.objects.filter(project=project).count() == 2


def test_the_migration_makes_defaults_for_projects_that_lack_them(project):
    """Migration 0002's function on today's models: a project without rules gets both, once."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("agentops.alerts.migrations.0002_default_rules")
    assert migration.DEFAULT_RULES[0]["params"]["metrics"] == list(rules.DRIFT_DEFAULT_METRICS)
    AlertRule.objects.filter(project=project).delete()
    migration.create_defaults(apps, None)
    migration.create_defaults(apps, None)
    assert sorted(AlertRule.objects.filter(project=project).values_list("name", flat=True)) == [
        "Drift of new bundles",
        "Error rate",
    ]


def test_create_fills_the_kind_defaults_and_audits(project):
    user = make_user()
    rule = rules.rule_create(project=project, user=user, data=_threshold(scope={"agent": "support", "tool": ""}))
    assert rule.window_minutes == 60 and rule.min_sample == 20 and rule.direction == "above"
    assert rule.scope == {"agent": "support"}  # an empty filter is no filter
    assert rule.created_by == user and rule.enabled and not rule.is_default
    event = AuditEvent.objects.get(action="alert_rule.create")
    assert event.after is not None
    assert event.target_id == str(rule.pk) and event.actor == user and event.after["metric"] == "latency_p95_ms"


def test_budget_and_spike_params_are_completed(project):
    budget = rules.rule_create(project=project, user=None, data=_budget(soft_percents=[95, 80, 80]))
    assert budget.metric == "cost_usd" and budget.warning is None
    assert budget.params == {"limit_usd": 100.0, "period": "month", "timezone": "UTC", "soft_percents": [80, 95]}
    spike = rules.rule_create(
        project=project, user=None, data={"name": "Runs", "kind": "spike", "metric": "runs", "warning": 3}
    )
    assert spike.params == {"days": 7, "min_baseline": 0.0, "min_value": 10.0}
    cost = rules.rule_create(
        project=project, user=None, data={"name": "Cost", "kind": "spike", "metric": "cost_usd", "critical": 2}
    )
    assert cost.params["min_value"] == 0.01


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**_threshold(), "colour": "red"}, "colour"),
        ({**_threshold(), "name": " "}, "name"),
        ({**_threshold(), "name": "x" * 201}, "name"),
        ({**_threshold(), "kind": "weather"}, "kind"),
        ({**_threshold(), "metric": "errors"}, "metric"),  # a spike metric, not a threshold's
        ({**_threshold(), "window_minutes": 0}, "window_minutes"),
        ({**_threshold(), "window_minutes": 10081}, "window_minutes"),
        ({**_threshold(), "window_minutes": "60"}, "window_minutes"),
        ({**_threshold(), "warning": None, "critical": None}, "warning"),
        ({**_threshold(), "warning": 5000, "critical": 2000}, "critical"),
        ({**_threshold(), "direction": "below"}, "critical"),  # below: critical must be the lower
        ({**_threshold(), "direction": "sideways"}, "direction"),
        ({**_threshold(), "warning": float("nan")}, "warning"),
        ({**_threshold(), "warning": True}, "warning"),
        ({**_threshold(metric="error_rate", warning=10, critical=20)}, "warning"),
        ({**_threshold(), "min_sample": -1}, "min_sample"),
        ({**_threshold(), "scope": {"customer": "acme"}}, "scope"),
        ({**_threshold(), "scope": {"agent": "a" * 201}}, "scope"),
        ({**_threshold(), "scope": ["agent"]}, "scope"),
        ({**_threshold(), "params": {"days": 3}}, "params.days"),
        ({**_threshold(), "renotify_minutes": 4}, "renotify_minutes"),
        ({**_threshold(), "channels": ["1"]}, "channels"),
        ({**_threshold(), "enabled": "yes"}, "enabled"),
        ({"name": "Spike", "kind": "spike", "metric": "cost_usd", "warning": 0}, "warning"),
        ({"name": "Spike", "kind": "spike", "metric": "cost_usd", "warning": 2, "params": {"days": 29}}, "params.days"),
        ({"name": "Budget", "kind": "budget", "params": {"period": "day"}}, "params.limit_usd"),
        (_budget(limit_usd=0), "params.limit_usd"),
        (_budget(period="fortnight"), "params.period"),
        (_budget(timezone="Mars/Olympus_Mons"), "params.timezone"),
        (_budget(timezone="../../etc/passwd"), "params.timezone"),
        (_budget(soft_percents=[100]), "params.soft_percents"),
        (_budget(soft_percents=[0]), "params.soft_percents"),
        ({**_budget(), "scope": {"bundle": "v2"}}, "scope"),
        ({**_budget(), "warning": 80}, "warning"),
        ({**_budget(), "metric": "runs"}, "metric"),
        ({"name": "Drift", "kind": "drift", "metric": "error_rate"}, "metric"),
        ({"name": "Drift", "kind": "drift", "params": {"metrics": ["vibes"]}}, "params.metrics"),
        ({"name": "Drift", "kind": "drift", "params": {"metrics": []}}, "params.metrics"),
        ({"name": "Drift", "kind": "drift", "critical": 1}, "critical"),
    ],
)
def test_a_bad_field_is_named_and_nothing_is_written(project, data, field):
    before = AlertRule.objects.count()
    with pytest.raises(rules.RuleError) as caught:
        rules.rule_create(project=project, user=None, data=data)
    assert caught.value.field == field, caught.value
    assert AlertRule.objects.count() == before
    assert not AuditEvent.objects.filter(action="alert_rule.create").exists()


def test_channels_of_another_project_are_refused(project):
    mine = channel_create(project=project, kind="slack", url="https://hooks.example.com/a").channel
    other = channel_create(project=make_project(), kind="slack", url="https://hooks.example.com/b").channel
    with pytest.raises(rules.RuleError) as caught:
        rules.rule_create(project=project, user=None, data=_threshold(channels=[mine.pk, other.pk]))
    assert caught.value.field == "channels" and str(other.pk) in caught.value.message
    rule = rules.rule_create(project=project, user=None, data=_threshold(channels=[mine.pk]))
    assert list(rule.channels.all()) == [mine]


def test_update_is_partial_checks_the_whole_rule_and_audits(project):
    rule = make_rule(project, warning=0.1, critical=0.3)
    with pytest.raises(rules.RuleError) as caught:
        rules.rule_update(rule=rule, user=None, data={"warning": 0.5})  # above the critical it keeps
    assert caught.value.field == "critical"
    with pytest.raises(rules.RuleError) as caught:
        rules.rule_update(rule=rule, user=None, data={"kind": "spike"})
    assert caught.value.field == "kind"
    updated = rules.rule_update(rule=rule, user=None, data={"warning": 0.2, "enabled": False})
    assert (updated.warning, updated.critical, updated.enabled, updated.name) == (0.2, 0.3, False, rule.name)
    event = AuditEvent.objects.get(action="alert_rule.update")
    assert event.before is not None and event.after is not None
    assert event.before["warning"] == 0.1 and event.after["warning"] == 0.2
    assert event.after["changed"] == ["enabled", "warning"]


def test_delete_takes_the_rules_alerts_and_audits(project):
    rule = make_rule(project)
    make_alert(project, rule)
    rules.rule_delete(rule=rule, user=None)
    assert not AlertRule.objects.filter(pk=rule.pk).exists()
    assert (AuditEvent.objects.get(action="alert_rule.delete").before or {})["name"] == rule.name
