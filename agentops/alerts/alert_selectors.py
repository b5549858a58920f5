"""Reads of rules and alerts for the API and the pages; the project comes from the tenancy chokepoint.

Each function costs a fixed number of queries whatever the data: a list is one query (its rule,
project and acknowledger joined), an alert's deliveries two (messages, then their attempts).
Alerts are paged by keyset on (opened_at, id), newest first: a page costs the same however deep.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.dateparse import parse_datetime

from agentops.alerts.models import Alert, AlertEvent, AlertRule, Severity
from agentops.errors import FieldError
from agentops.notify.models import DeliveryAttempt, OutboxMessage
from agentops.tenancy.models import Project

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_EVENTS = 500
MAX_MESSAGES = 100


class AlertFilterError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class AlertFilters:
    state: str | None = None
    severity: str | None = None
    rule: int | None = None
    cursor: tuple[datetime, int] | None = None
    limit: int = DEFAULT_LIMIT


def _choice(params: Mapping[str, str], name: str, choices: list[str]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in choices:
        raise AlertFilterError(name, f"Choose one of {', '.join(choices)}.")
    return value


def _whole(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise AlertFilterError(name, f"Give a whole number, not {raw[:50]!r}.") from None
    if not low <= value <= high:
        raise AlertFilterError(name, f"Give a whole number from {low} to {high}.")
    return value


def encode_cursor(alert: Alert) -> str:
    raw = f"{alert.opened_at.isoformat()}|{alert.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(raw: str | None) -> tuple[datetime, int] | None:
    if not raw:
        return None
    try:
        stamp, pk = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("|")
        moment = parse_datetime(stamp)
        if moment is None:
            raise ValueError(stamp)
        return moment, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise AlertFilterError("cursor", "This is not a cursor this list gave out; start again without it.") from None


def parse_alert_filters(params: Mapping[str, str]) -> AlertFilters:
    """The list's query parameters: state, severity, rule (an id), cursor, limit. AlertFilterError
    names the parameter at fault."""
    return AlertFilters(
        state=_choice(params, "state", list(Alert.State.values)),
        severity=_choice(params, "severity", list(Severity.values)),
        rule=_whole(params, "rule", 1, 2**63 - 1),
        cursor=_cursor(params.get("cursor")),
        limit=_whole(params, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT,
    )


def project_alerts(project: Project) -> QuerySet[Alert]:
    return Alert.objects.filter(project=project).select_related("project", "rule", "acknowledged_by")


def alert_page(project: Project, filters: AlertFilters) -> tuple[list[Alert], str | None]:
    """One page of the project's alerts, newest first, and the cursor of the next (None: the last)."""
    alerts = project_alerts(project)
    if filters.state:
        alerts = alerts.filter(state=filters.state)
    if filters.severity:
        alerts = alerts.filter(severity=filters.severity)
    if filters.rule:
        alerts = alerts.filter(rule_id=filters.rule)
    if filters.cursor:
        moment, pk = filters.cursor
        alerts = alerts.filter(Q(opened_at__lt=moment) | Q(opened_at=moment, id__lt=pk))
    items = list(alerts.order_by("-opened_at", "-id")[: filters.limit + 1])
    more = len(items) > filters.limit
    items = items[: filters.limit]
    return items, (encode_cursor(items[-1]) if more and items else None)


def project_alert(project: Project, alert_id: int) -> Alert | None:
    """One alert of the project; None for another project's, whatever its id."""
    return project_alerts(project).filter(pk=alert_id).first()


def alert_counts(project: Project) -> dict[str, int]:
    """How many alerts the project has in each state (the tabs' numbers)."""
    rows = Alert.objects.filter(project=project).values("state").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(Alert.State.values, 0)
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def alert_events(alert: Alert) -> list[AlertEvent]:
    """The alert's history, oldest first (the newest MAX_EVENTS of a very chatty alert)."""
    newest = AlertEvent.objects.filter(alert=alert).select_related("user").order_by("-at", "-id")[:MAX_EVENTS]
    return list(reversed(newest))


def alert_messages(alert: Alert) -> list[OutboxMessage]:
    """The notifications about the alert (outbox keys "alert:<id>:<event>:<n>"), newest first, each
    with its channel and its delivery attempts (`attempts_made`, oldest first)."""
    return list(
        OutboxMessage.objects.filter(project_id=alert.project_id, idempotency_key__startswith=f"alert:{alert.pk}:")
        .select_related("channel")
        .prefetch_related(Prefetch("attempts_made", queryset=DeliveryAttempt.objects.order_by("at", "id")))
        .order_by("-created_at", "-id")[:MAX_MESSAGES]
    )


def project_rules(project: Project) -> QuerySet[AlertRule]:
    """The project's rules, each with `live`: its open or acknowledged alerts, and its channels."""
    return (
        AlertRule.objects.filter(project=project)
        .annotate(live=Count("alerts", filter=Q(alerts__state__in=Alert.LIVE_STATES)))
        .prefetch_related("channels")
        .order_by("name", "id")
    )


def project_rule(project: Project, rule_id: int) -> AlertRule | None:
    return project_rules(project).filter(pk=rule_id).first()


def rule_choices(project: Project) -> list[tuple[int, str]]:
    """The project's rules as (id, name), by name: the alerts page's rule filter."""
    return list(AlertRule.objects.filter(project=project).order_by("name", "id").values_list("id", "name"))
