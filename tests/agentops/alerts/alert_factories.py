"""Alerts for the UI and API tests, made as the evaluator leaves them: a rule (through rules.rule_create),
an Alert row and its "opened" event. Not the lifecycle's path (agentops.alerts.lifecycle), on purpose:
these tests are about showing and acting on alerts, whatever opened them."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from agentops.alerts import rules
from agentops.alerts.evaluation.base import scope_key
from agentops.alerts.models import Alert, AlertEvent, AlertRule
from agentops.alerts.services import alert_event_record
from agentops.tenancy.models import Project

_seq = itertools.count(1)


def make_rule(project: Project, **data: Any) -> AlertRule:
    fields = {
        "name": f"Rule {next(_seq)}",
        "kind": "threshold",
        "metric": "error_rate",
        "warning": 0.1,
        "critical": 0.3,
        **data,
    }
    return rules.rule_create(project=project, user=None, data=fields)


def make_alert(
    project: Project,
    rule: AlertRule | None = None,
    *,
    scope: dict[str, str] | None = None,
    severity: str = "warning",
    state: str = Alert.State.OPEN,
    summary: str = "Error rate 0.2 over the last hour, warning above 0.1",
    minutes_ago: int = 5,
    **fields: Any,
) -> Alert:
    rule = rule or make_rule(project)
    scope = scope if scope is not None else {"agent": f"agent-{next(_seq)}"}
    opened = timezone.now() - timedelta(minutes=minutes_ago)
    alert = Alert.objects.create(
        project=project,
        rule=rule,
        kind=rule.kind,
        metric=rule.metric,
        scope=scope,
        scope_key=scope_key(scope),
        state=state,
        severity=severity,
        value=fields.pop("value", 0.2),
        baseline_value=fields.pop("baseline_value", 0.1),
        summary=summary,
        runs_filter=fields.pop("runs_filter", {**scope, "status": "error"}),
        opened_at=opened,
        updated_at=opened,
        resolved_at=opened + timedelta(minutes=1) if state == Alert.State.RESOLVED else None,
        **fields,
    )
    alert_event_record(alert, AlertEvent.Event.OPENED, at=opened)
    return alert
