"""The evaluator's writes: findings become alerts, and open alerts remind.

alerts_observe(rule, findings, *, now): one transaction for the rule. Its live (open or acknowledged)
alerts are locked first (select_for_update), so a person acknowledging or muting one waits for, or is
waited on by, the evaluator; then each finding, by its scope key (evaluation.base.scope_key):
- a severity on a scope with no live alert opens one (event opened; notify opened);
- a higher severity than the live alert's escalates it (event escalated; notify escalated);
- a lower one de-escalates it (event deescalated; no notification: things got better, not worse);
- the same one updates value, summary, details and updated_at (no event, no notification);
- severity None resolves the live alert (event resolved; notify resolved);
- a scope with no finding is left as it is (the evaluator could not judge it).
Two evaluators racing to open the same alert: the partial unique index (alert_one_live_per_rule_scope)
fails the second insert; it re-reads the winner's alert (now committed) and applies its finding to it.

alerts_remind(*, now): every open (not acknowledged, not muted) alert whose rule is enabled and has
renotify_minutes, last notified (or opened) that long ago, gets a reminder event and notification.

Notifications go through the outbox (agentops.notify.services.enqueue) in the same transaction, as
the event's name ("opened", "escalated", "resolved", "reminder": the webhook's `event` and
X-Agentops-Event) with payload {"event", "alert": presenters.alert_dict, "project": {"slug",
"name"}, "summary", "url"} to the rule's channels (all of the project's when it names none), keyed
"alert:<alert id>:<event>:<event row id>": a retried cycle never sends twice, each reminder is its own
message. A muted alert (muted_until > now) sends nothing; its events are still recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Coalesce

from agentops.alerts.evaluation.base import Finding, scope_key
from agentops.alerts.models import Alert, AlertEvent, AlertRule, Severity
from agentops.alerts.presenters import alert_dict
from agentops.alerts.services import alert_event_record
from agentops.notify.models import Channel
from agentops.notify.services import enqueue

_RANK = {Severity.WARNING: 1, Severity.CRITICAL: 2}
MAX_SUMMARY = 500  # Alert.summary's length
# Reminders sent per call at most: a backlog (the worker was down a day) drains over a few cycles.
MAX_REMINDERS = 500


@dataclass
class ObserveResult:
    """What one call did, by event ("opened", "escalated", ...) -> alert ids; "updated" for same-severity
    refreshes. `notified` counts the outbox rows written."""

    events: dict[str, list[int]] = field(default_factory=dict)
    notified: int = 0

    def add(self, event: str, alert: Alert) -> None:
        self.events.setdefault(str(event), []).append(alert.pk)


def _live(rule: AlertRule) -> dict[str, Alert]:
    alerts = Alert.objects.select_for_update().filter(rule=rule, state__in=Alert.LIVE_STATES)
    return {alert.scope_key: alert for alert in alerts}


def _muted(alert: Alert, now: datetime) -> bool:
    return alert.muted_until is not None and alert.muted_until > now


def _notify(alert: Alert, event: AlertEvent, now: datetime) -> int:
    """Queue `event` of `alert` to its rule's channels, unless muted; returns the outbox rows written."""
    if _muted(alert, now):
        return 0
    rule = alert.rule
    project = alert.project
    named = list(rule.channels.all())
    targets = [c for c in named if c.enabled] if named else list(Channel.objects.filter(project=project, enabled=True))
    alert.last_notified_at = now
    if not targets:  # nowhere to send: no payload to build
        alert.save(update_fields=["last_notified_at"])
        return 0
    shown = alert_dict(alert)
    payload = {
        "event": event.event,
        "alert": shown,
        "project": {"slug": project.slug, "name": project.name},
        # What Slack and e-mail show (agentops.notify.senders).
        "summary": alert.summary,
        "url": shown["url"],
    }
    # As the receiver will read it: times as ISO 8601 strings (the outbox stores JSON).
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    messages = enqueue(
        project,
        str(event.event),
        payload,
        targets,
        key=f"alert:{alert.pk}:{event.event}:{event.pk}",
    )
    alert.save(update_fields=["last_notified_at"])
    return len(messages)


def _apply(alert: Alert, finding: Finding, now: datetime) -> None:
    alert.value, alert.baseline_value = finding.value, finding.baseline_value
    alert.summary = finding.summary[:MAX_SUMMARY]
    alert.details = dict(finding.details)
    alert.runs_filter = dict(finding.runs_filter)
    alert.updated_at = now


def _open(rule: AlertRule, finding: Finding, key: str, now: datetime) -> Alert | None:
    """Insert the alert, or None when another evaluator opened it first (its alert is then live)."""
    assert finding.severity is not None
    alert = Alert(
        project_id=rule.project_id, rule=rule, kind=rule.kind, metric=rule.metric, scope=dict(finding.scope),
        scope_key=key, state=Alert.State.OPEN, severity=finding.severity, opened_at=now,
    )  # fmt: skip
    _apply(alert, finding, now)
    try:
        with transaction.atomic():  # a savepoint: the IntegrityError leaves the outer transaction usable
            alert.save(force_insert=True)
    except IntegrityError:
        return None
    return alert


def _observe_one(
    rule: AlertRule, finding: Finding, key: str, alert: Alert | None, now: datetime, result: ObserveResult
) -> Alert | None:
    """Apply one finding to the scope's live alert (None: there is none); returns the live alert after."""
    if alert is None:
        if finding.severity is None:
            return None
        opened = _open(rule, finding, key, now)
        if opened is None:
            # Another evaluator opened it between our read and our insert: its row is committed now.
            alert = Alert.objects.select_for_update().get(rule=rule, scope_key=key, state__in=Alert.LIVE_STATES)
            return _observe_one(rule, finding, key, alert, now, result)
        opened.rule, opened.project = rule, rule.project
        event = alert_event_record(opened, AlertEvent.Event.OPENED, at=now)
        result.add(event.event, opened)
        result.notified += _notify(opened, event, now)
        return opened
    alert.rule, alert.project = rule, rule.project
    if finding.severity is None:
        _apply(alert, finding, now)
        alert.state, alert.resolved_at = Alert.State.RESOLVED, now
        alert.save()
        event = alert_event_record(alert, AlertEvent.Event.RESOLVED, at=now)
        result.add(event.event, alert)
        result.notified += _notify(alert, event, now)
        return None
    before, after = _RANK[Severity(alert.severity)], _RANK[finding.severity]
    _apply(alert, finding, now)
    alert.severity = finding.severity
    alert.save()
    if after > before:
        event = alert_event_record(alert, AlertEvent.Event.ESCALATED, at=now)
        result.add(event.event, alert)
        result.notified += _notify(alert, event, now)
    elif after < before:
        event = alert_event_record(alert, AlertEvent.Event.DEESCALATED, at=now)
        result.add(event.event, alert)
    else:
        result.add("updated", alert)
    return alert


def alerts_observe(rule: AlertRule, findings: Iterable[Finding], *, now: datetime) -> ObserveResult:
    """Turn one evaluation of `rule` into alert changes, events and notifications (see the module)."""
    result = ObserveResult()
    with transaction.atomic():
        live = _live(rule)
        for finding in findings:
            key = scope_key(finding.scope)
            alert = _observe_one(rule, finding, key, live.get(key), now, result)
            if alert is None:
                live.pop(key, None)
            else:
                live[key] = alert
    return result


def alerts_remind(*, now: datetime) -> int:
    """Remind of every open alert due for it (see the module); returns the reminders recorded."""
    last = Coalesce(F("last_notified_at"), F("opened_at"))
    every = ExpressionWrapper(F("rule__renotify_minutes") * Value(timedelta(minutes=1)), output_field=DurationField())
    due = (
        Alert.objects.filter(state=Alert.State.OPEN, rule__enabled=True, rule__renotify_minutes__isnull=False)
        .filter(Q(muted_until__isnull=True) | Q(muted_until__lte=now))
        .annotate(next_reminder=ExpressionWrapper(last + every, output_field=DateTimeField()))
        .filter(next_reminder__lte=now)
    )
    sent = 0
    with transaction.atomic():
        # skip_locked: an alert a person is acknowledging right now is reminded of next cycle, if still open.
        for alert in due.select_for_update(skip_locked=True, of=("self",)).select_related("rule", "project")[
            :MAX_REMINDERS
        ]:
            event = alert_event_record(alert, AlertEvent.Event.REMINDER, at=now)
            _notify(alert, event, now)
            sent += 1
    return sent
