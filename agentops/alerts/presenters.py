"""An alert as plain data: the API's object and the body of every alert notification (the webhook's
`alert`). Links are absolute (SITE_URL) so that a receiver can follow them; the run list's filters go
through urlencode, so a hostile agent or bundle name cannot break out of its parameter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from agentops.alerts.models import Alert, AlertEvent


def runs_path(alert: Alert) -> str:
    """The run list filtered to the runs behind the alert, as a path (the pages link to it)."""
    path = reverse("run_list", kwargs={"slug": alert.project.slug})
    query = urlencode({k: v for k, v in sorted(alert.runs_filter.items()) if v not in (None, "")})
    return f"{path}?{query}" if query else path


def runs_url(alert: Alert) -> str:
    return settings.SITE_URL + runs_path(alert)


def alert_url(alert: Alert) -> str:
    return settings.SITE_URL + reverse("alert_detail", kwargs={"slug": alert.project.slug, "alert_id": alert.pk})


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule": {"id": alert.rule_id, "name": alert.rule.name},
        "kind": alert.kind,
        "metric": alert.metric,
        "scope": alert.scope,
        "state": alert.state,
        "severity": alert.severity,
        "muted": alert.muted_until is not None and alert.muted_until > timezone.now(),
        "muted_until": alert.muted_until,
        "opened_at": alert.opened_at,
        "updated_at": alert.updated_at,
        "resolved_at": alert.resolved_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by.email if alert.acknowledged_by else None,
        "value": alert.value,
        "baseline_value": alert.baseline_value,
        "summary": alert.summary,
        "details": alert.details,
        "runs_url": runs_url(alert),
        "url": alert_url(alert),
    }


def event_dict(event: AlertEvent) -> dict[str, Any]:
    return {
        "event": event.event,
        "at": event.at,
        "severity": event.severity,
        "value": event.value,
        "baseline_value": event.baseline_value,
        "summary": event.summary,
        "details": event.details,
        "user": event.user.email if event.user else None,
        "note": event.note,
    }
