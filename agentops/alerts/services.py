"""Writes of alerts made by people: acknowledge, mute and unmute. (The evaluator's writes, opening,
escalating and resolving, live beside it in agentops.alerts.lifecycle.)

Each change is an AlertEvent and an audit record, in one transaction with the alert's row, which is
locked first so that a person and the evaluator never overwrite each other's change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from agentops.alerts.models import Alert, AlertEvent
from agentops.errors import FieldError
from agentops.tenancy.audit import audit_record

MAX_NOTE = 500


class AlertActionError(FieldError):
    pass


def alert_event_record(
    alert: Alert, event: str, *, at: datetime, user: Any = None, note: str = "", details: dict[str, Any] | None = None
) -> AlertEvent:
    """Append one event with what the alert says now (its severity, values and summary)."""
    return AlertEvent.objects.create(
        project_id=alert.project_id,
        alert=alert,
        event=event,
        at=at,
        severity=alert.severity,
        value=alert.value,
        baseline_value=alert.baseline_value,
        summary=alert.summary,
        details=details if details is not None else {},
        user=user if getattr(user, "is_authenticated", False) else None,
        note=note[:MAX_NOTE],
    )


def _locked(alert: Alert) -> Alert:
    return Alert.objects.select_for_update().select_related("project", "rule").get(pk=alert.pk)


def _audit(alert: Alert, user: Any, action: str, after: dict[str, Any]) -> None:
    audit_record(
        actor=user,
        action=action,
        target_type="alert",
        target_id=alert.pk,
        target_label=alert.summary[:200],
        after=after,
        project=alert.project,
    )


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user: Any, note: str = "") -> Alert:
    """Someone is on it: an open alert becomes acknowledged (reminders stop; escalation still notifies)."""
    alert = _locked(alert)
    if alert.state != Alert.State.OPEN:
        raise AlertActionError("state", f"Only an open alert can be acknowledged; this one is {alert.state}.")
    now = timezone.now()
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_at, alert.acknowledged_by, alert.updated_at = now, user, now
    alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "updated_at"])
    alert_event_record(alert, AlertEvent.Event.ACKNOWLEDGED, at=now, user=user, note=note)
    _audit(alert, user, "alert.acknowledge", {"state": alert.state, "note": note[:MAX_NOTE]})
    return alert


@transaction.atomic
def alert_mute(*, alert: Alert, user: Any, until: datetime, note: str = "") -> Alert:
    """Send nothing about this alert until `until`; it is still evaluated and still resolves."""
    alert = _locked(alert)
    now = timezone.now()
    if alert.state == Alert.State.RESOLVED:
        raise AlertActionError("state", "A resolved alert cannot be muted.")
    if until <= now:
        raise AlertActionError("until", "Mute until a time in the future.")
    alert.muted_until, alert.updated_at = until, now
    alert.save(update_fields=["muted_until", "updated_at"])
    alert_event_record(
        alert, AlertEvent.Event.MUTED, at=now, user=user, note=note, details={"until": until.isoformat()}
    )
    _audit(alert, user, "alert.mute", {"muted_until": until.isoformat(), "note": note[:MAX_NOTE]})
    return alert


@transaction.atomic
def alert_unmute(*, alert: Alert, user: Any) -> Alert:
    alert = _locked(alert)
    if alert.muted_until is None:
        raise AlertActionError("muted_until", "This alert is not muted.")
    now = timezone.now()
    alert.muted_until, alert.updated_at = None, now
    alert.save(update_fields=["muted_until", "updated_at"])
    alert_event_record(alert, AlertEvent.Event.UNMUTED, at=now, user=user)
    _audit(alert, user, "alert.unmute", {"muted_until": None})
    return alert
