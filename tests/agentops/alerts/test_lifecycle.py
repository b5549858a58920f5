"""alerts_observe and alerts_remind: findings become alerts, events and outbox rows, once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from agentops.alerts import lifecycle
from agentops.alerts.evaluation.base import Finding
from agentops.alerts.lifecycle import alerts_observe, alerts_remind
from agentops.alerts.models import Alert, AlertEvent, AlertRule, RuleKind, Severity
from agentops.alerts.services import alert_acknowledge, alert_mute
from agentops.notify.models import OutboxMessage
from agentops.notify.services import channel_create
from tests.factories import make_project, make_user

T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)  # mutes must end in the future
SCOPE = {"agent": "support-bot", "environment": "production"}


def make_rule(project, **kw) -> AlertRule:
    fields = dict(name="Error rate", kind=RuleKind.THRESHOLD, metric="error_rate", warning=0.1, critical=0.25)
    return AlertRule.objects.create(project=project, **{**fields, **kw})


def finding(severity: Severity | None, value: float = 0.3, scope=SCOPE) -> Finding:
    return Finding(
        scope=scope,
        severity=severity,
        value=value,
        baseline_value=None,
        summary=f"error rate {value:.0%}",
        details={"runs": 100},
        runs_filter={"agent": "support-bot", "status": "error"},
    )


@pytest.fixture
def setup(db):
    project = make_project()
    channel = channel_create(project=project, kind="webhook", url="https://hooks.example.com/a").channel
    return project, channel, make_rule(project)


def events(alert: Alert) -> list[str]:
    return list(AlertEvent.objects.filter(alert=alert).order_by("id").values_list("event", flat=True))


def outbox() -> list[tuple[str, str]]:
    return list(OutboxMessage.objects.order_by("id").values_list("event", "idempotency_key"))


def test_a_finding_opens_one_alert_and_notifies_once(setup):
    project, channel, rule = setup

    result = alerts_observe(rule, [finding(Severity.CRITICAL)], now=T0)

    alert = Alert.objects.get()
    assert result.events == {"opened": [alert.pk]} and result.notified == 1
    assert (alert.state, alert.severity, alert.value, alert.scope) == ("open", "critical", 0.3, SCOPE)
    assert (alert.kind, alert.metric, alert.opened_at, alert.last_notified_at) == ("threshold", "error_rate", T0, T0)
    assert alert.runs_filter == {"agent": "support-bot", "status": "error"}
    assert alert.scope_key == '{"agent":"support-bot","environment":"production"}'
    (event,) = AlertEvent.objects.filter(alert=alert)
    assert (event.event, event.severity, event.value, event.at) == ("opened", "critical", 0.3, T0)
    (message,) = OutboxMessage.objects.all()
    assert message.channel == channel and message.event == "opened"
    assert message.idempotency_key == f"alert:{alert.pk}:opened:{event.pk}"
    payload = message.payload
    assert payload["event"] == "opened" and payload["project"] == {"slug": project.slug, "name": project.name}
    assert payload["alert"]["id"] == alert.pk and payload["alert"]["severity"] == "critical"
    assert payload["summary"] == "error rate 30%" and payload["url"].endswith(f"/alerts/{alert.pk}/")


def test_the_same_finding_again_updates_without_event_or_notification(setup):
    _, _, rule = setup
    alerts_observe(rule, [finding(Severity.CRITICAL, 0.3)], now=T0)

    later = T0 + timedelta(minutes=1)
    result = alerts_observe(rule, [finding(Severity.CRITICAL, 0.4)], now=later)

    alert = Alert.objects.get()
    assert result.events == {"updated": [alert.pk]} and result.notified == 0
    assert (alert.value, alert.summary, alert.updated_at, alert.opened_at) == (0.4, "error rate 40%", later, T0)
    assert events(alert) == ["opened"] and len(outbox()) == 1


def test_escalation_notifies_and_deescalation_only_records(setup):
    _, _, rule = setup
    alerts_observe(rule, [finding(Severity.WARNING, 0.15)], now=T0)
    alerts_observe(rule, [finding(Severity.CRITICAL, 0.3)], now=T0 + timedelta(minutes=1))
    alerts_observe(rule, [finding(Severity.WARNING, 0.12)], now=T0 + timedelta(minutes=2))

    alert = Alert.objects.get()
    assert (alert.severity, alert.value, alert.state) == ("warning", 0.12, "open")
    assert events(alert) == ["opened", "escalated", "deescalated"]
    assert [e for e, _ in outbox()] == ["opened", "escalated"]


def test_a_clear_finding_resolves_and_a_new_one_opens_a_new_alert(setup):
    _, _, rule = setup
    alerts_observe(rule, [finding(Severity.WARNING)], now=T0)
    resolved_at = T0 + timedelta(minutes=5)

    result = alerts_observe(rule, [finding(None, 0.01)], now=resolved_at)

    alert = Alert.objects.get()
    assert result.events == {"resolved": [alert.pk]}
    assert (alert.state, alert.resolved_at, alert.value) == ("resolved", resolved_at, 0.01)
    assert events(alert) == ["opened", "resolved"]
    assert [e for e, _ in outbox()] == ["opened", "resolved"]

    alerts_observe(rule, [finding(Severity.WARNING)], now=T0 + timedelta(minutes=9))
    assert Alert.objects.filter(state="open").exclude(pk=alert.pk).count() == 1


def test_no_finding_leaves_a_live_alert_alone_and_a_clear_one_opens_nothing(setup):
    _, _, rule = setup
    alerts_observe(rule, [finding(Severity.WARNING)], now=T0)

    assert alerts_observe(rule, [], now=T0 + timedelta(minutes=1)).events == {}
    other = {"agent": "billing-agent"}
    assert alerts_observe(rule, [finding(None, scope=other)], now=T0 + timedelta(minutes=2)).events == {}

    alert = Alert.objects.get()
    assert (alert.state, alert.updated_at) == ("open", T0)


def test_scopes_are_alerts_of_their_own(setup):
    _, _, rule = setup
    other = {"agent": "billing-agent"}

    alerts_observe(rule, [finding(Severity.WARNING), finding(Severity.CRITICAL, scope=other)], now=T0)
    alerts_observe(rule, [finding(None), finding(Severity.CRITICAL, scope=other)], now=T0 + timedelta(minutes=1))

    states = dict(Alert.objects.values_list("scope_key", "state"))
    assert states == {
        '{"agent":"support-bot","environment":"production"}': "resolved",
        '{"agent":"billing-agent"}': "open",
    }


def test_an_acknowledged_alert_still_escalates_and_resolves(setup):
    _, _, rule = setup
    alerts_observe(rule, [finding(Severity.WARNING)], now=T0)
    alert_acknowledge(alert=Alert.objects.get(), user=make_user())

    alerts_observe(rule, [finding(Severity.CRITICAL)], now=T0 + timedelta(minutes=1))
    assert Alert.objects.get().state == "acknowledged"
    alerts_observe(rule, [finding(None)], now=T0 + timedelta(minutes=2))

    alert = Alert.objects.get()
    assert alert.state == "resolved"
    assert events(alert) == ["opened", "acknowledged", "escalated", "resolved"]
    assert [e for e, _ in outbox()] == ["opened", "escalated", "resolved"]


def test_a_muted_alert_records_its_events_but_sends_nothing(setup):
    _, _, rule = setup
    alerts_observe(rule, [finding(Severity.WARNING)], now=T0)
    alert = alert_mute(alert=Alert.objects.get(), user=make_user(), until=datetime.now(UTC) + timedelta(days=1))
    now = datetime.now(UTC)

    alerts_observe(rule, [finding(Severity.CRITICAL)], now=now)
    alerts_observe(rule, [finding(None)], now=now + timedelta(minutes=1))

    assert events(alert) == ["opened", "muted", "escalated", "resolved"]
    assert [e for e, _ in outbox()] == ["opened"]


def test_the_rules_channels_only_when_it_names_some(setup):
    project, channel, rule = setup
    other = channel_create(project=project, kind="webhook", url="https://hooks.example.com/b").channel
    alerts_observe(rule, [finding(Severity.WARNING, scope={"agent": "a"})], now=T0)
    assert set(OutboxMessage.objects.values_list("channel", flat=True)) == {channel.pk, other.pk}

    rule.channels.set([other])
    alerts_observe(rule, [finding(Severity.WARNING, scope={"agent": "b"})], now=T0)
    alert = Alert.objects.get(scope_key='{"agent":"b"}')
    assert list(OutboxMessage.objects.filter(payload__alert__id=alert.pk).values_list("channel", flat=True)) == [
        other.pk
    ]


def test_an_alert_opens_without_channels(db):
    rule = make_rule(make_project())
    result = alerts_observe(rule, [finding(Severity.WARNING)], now=T0)
    assert result.notified == 0 and Alert.objects.get().last_notified_at == T0


@pytest.fixture
def reminding(setup):
    _, _, rule = setup
    rule.renotify_minutes = 60
    rule.save()
    alerts_observe(rule, [finding(Severity.WARNING)], now=T0)
    return Alert.objects.get()


def test_reminders_every_interval_while_open(reminding):
    assert alerts_remind(now=T0 + timedelta(minutes=59)) == 0
    assert alerts_remind(now=T0 + timedelta(minutes=60)) == 1
    assert alerts_remind(now=T0 + timedelta(minutes=61)) == 0  # the interval counts from the reminder
    assert alerts_remind(now=T0 + timedelta(minutes=120)) == 1

    reminders = AlertEvent.objects.filter(alert=reminding, event="reminder").order_by("id")
    keys = [k for e, k in outbox() if e == "reminder"]
    assert keys == [f"alert:{reminding.pk}:reminder:{e.pk}" for e in reminders] and len(set(keys)) == 2
    reminding.refresh_from_db()
    assert reminding.last_notified_at == T0 + timedelta(minutes=120)


def test_no_reminder_when_acknowledged_muted_resolved_or_not_asked(reminding, setup):
    _, _, rule = setup
    user = make_user()
    alert_mute(alert=reminding, user=user, until=T0 + timedelta(hours=3))
    assert alerts_remind(now=T0 + timedelta(hours=2)) == 0
    assert alerts_remind(now=T0 + timedelta(hours=3)) == 1  # the mute is over

    alert_acknowledge(alert=reminding, user=user)
    assert alerts_remind(now=T0 + timedelta(hours=9)) == 0

    quiet = make_rule(rule.project, name="quiet")  # renotify_minutes null: never
    alerts_observe(quiet, [finding(Severity.WARNING)], now=T0)
    assert alerts_remind(now=T0 + timedelta(days=2)) == 0
    assert AlertEvent.objects.filter(event="reminder").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_observers_open_one_alert(monkeypatch):
    """Both read "no live alert" before either inserts (a barrier holds them there): the index fails
    the second insert, which then applies its finding to the first's alert."""
    project = make_project()
    channel_create(project=project, kind="webhook", url="https://hooks.example.com/a")
    rule = make_rule(project)
    barrier = threading.Barrier(2, timeout=30)
    read = lifecycle._live

    def live_then_wait(r):
        alerts = read(r)
        barrier.wait()
        return alerts

    monkeypatch.setattr(lifecycle, "_live", live_then_wait)
    results, errors = [], []

    def observe(severity):
        try:
            results.append(alerts_observe(rule, [finding(severity)], now=T0))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=observe, args=(s,)) for s in (Severity.WARNING, Severity.CRITICAL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    alert = Alert.objects.get()
    opened = [r for r in results if "opened" in r.events]
    assert len(opened) == 1 and len(results) == 2
    assert events(alert).count("opened") == 1
    assert [e for e, _ in outbox()].count("opened") == 1
