"""The alerts API under /api/v1/projects/<slug>/: the canary verdict for CD systems, alert rules and alerts.

GET canary/?agent=<name>&candidate=<bundle>[&baseline=<bundle>][&since=<ISO time>][&environment=<env>][&gate=1]
  200 {"verdict": "pass|marginal|fail|inconclusive", "score", "baseline", "candidate",
       "metrics": [{"name", "verdict", "baseline_n", "candidate_n", "baseline_value", "candidate_value",
                    "effect", "p_value", "reason"}], ...}
  With gate=1 the same body answers 200 only on "pass" and 412 otherwise, for webhooks that read the
  status alone (Flagger). 400 for a missing or malformed parameter; 404 for another tenant's project,
  or an agent or bundle the project does not have (the body says which). Personal token or session.

Alert rules and alerts:

- alert-rules/                  GET the project's rules (the defaults included) and the metric
                                catalogue per kind; POST create one (fields: agentops.alerts.rules.FIELDS;
                                name and kind required; the kind's defaults fill the rest). 201.
- alert-rules/<id>/             GET one; PATCH the fields given (the rule is checked whole again; its
                                kind cannot change; `params` is replaced whole); DELETE (204) with its
                                alerts.
- alerts/?state=open|acknowledged|resolved&severity=warning|critical&rule=<id>&limit=&cursor=
                                newest first, {"results": [alert...], "next": url or null}; each alert
                                is agentops.alerts.presenters.alert_dict (the webhook's `alert` too).
- alerts/<id>/                  one alert with its `events` (its history, oldest first).
- alerts/<id>/acknowledge/      POST {"note"?}: an open alert becomes acknowledged (reminders stop).
- alerts/<id>/mute/             POST {"minutes": N} or {"until": ISO date-time}, "note" optional:
                                nothing is sent about it until then.
- alerts/<id>/unmute/           POST.

Who may: Viewers read rules and alerts. Editing rules, and acting on an alert (acknowledge, mute,
unmute), need the "manage alerts" permission, Engineer and above: an acknowledgement silences the
on-call reminders for everyone, so it is the act of someone who can also fix the rule. A missing
permission, another tenant's project, rule or alert answer 404 (agentops.tenancy.endpoints). A bad
field answers 400 naming it; an action the alert's state forbids (acknowledging a resolved alert,
unmuting one that is not muted) answers 409 naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.alerts import alert_selectors, rules
from agentops.alerts.canary import CanaryInvalid, CanaryNotFound, canary_verdict
from agentops.alerts.models import Alert, AlertRule
from agentops.alerts.presenters import alert_dict, event_dict
from agentops.alerts.services import AlertActionError, alert_acknowledge, alert_mute, alert_unmute
from agentops.alerts.stats import Verdict
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm

_PARAMS = [
    OpenApiParameter("agent", str, required=True, description="the agent's name"),
    OpenApiParameter("candidate", str, required=True, description="the bundle to judge"),
    OpenApiParameter("baseline", str, description="the bundle to judge against (default: the candidate's baseline)"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="compare runs that started at or after"),
    OpenApiParameter("environment", str, description="compare runs of this environment only"),
    OpenApiParameter("gate", bool, description="1: answer 412 unless the verdict is pass"),
]
_BODY = inline_serializer("CanaryVerdict", fields={"verdict": serializers.CharField()})


def _since(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationError(
            {
                "detail": f"since must be an ISO 8601 date-time with a time zone, such as 2026-11-22T10:00:00Z, not {raw!r}"
            }
        )
    return value


class CanaryVerdict(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(parameters=_PARAMS, responses={200: _BODY, 412: _BODY}, summary="Canary verdict of a bundle")
    def get(self, request: Request, slug: str) -> Response:
        params = request.query_params
        missing = [name for name in ("agent", "candidate") if not params.get(name)]
        if missing:
            raise ValidationError({"detail": f"missing parameter: {', '.join(missing)}"})
        try:
            report = canary_verdict(
                self.project,
                agent=params["agent"],
                candidate=params["candidate"],
                baseline=params.get("baseline") or None,
                environment=params.get("environment") or None,
                since=_since(params.get("since")),
            )
        except CanaryNotFound as exc:
            raise NotFound(str(exc)) from exc
        except CanaryInvalid as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        gate = params.get("gate", "").lower() in {"1", "true", "yes"}
        status = 412 if gate and report.judgement.verdict is not Verdict.PASS else 200
        return Response(report.as_dict(), status=status)


# --- Alert rules and alerts ---------------------------------------------------------------------

MAX_MUTE_MINUTES = 30 * 24 * 60
_OBJECT = inline_serializer("AlertObject", fields={"data": serializers.JSONField()})


def rule_dict(rule: AlertRule) -> dict[str, Any]:
    """A rule as the API shows it; `rule` comes from alert_selectors (its live count and channels)."""
    return {
        "id": rule.pk,
        **rules.rule_values(rule),
        "channels": [c.pk for c in rule.channels.all()],
        "is_default": rule.is_default,
        "live_alerts": getattr(rule, "live", None),
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def catalogue() -> dict[str, Any]:
    return {
        "metrics": {
            kind: [{"name": m.name, "label": m.label, "unit": m.unit} for m in metrics.values()]
            for kind, metrics in rules.METRICS.items()
        },
        "drift_metrics": list(rules.DRIFT_METRICS),
        "scope_keys": {"budget": list(rules.BUDGET_SCOPE_KEYS), "other": list(rules.SCOPE_KEYS)},
    }


def _rule_error(exc: rules.RuleError) -> ValidationError:
    return ValidationError({exc.field: [exc.message]})


class _AlertsAPIView(ProjectAPIView):
    """Rules and alerts only from the project the chokepoint resolved: another project's id is a 404
    like a missing one."""

    def rule(self, rule_id: int) -> AlertRule:
        rule = alert_selectors.project_rule(self.project, rule_id)
        if rule is None:
            raise NotFound("No such alert rule in this project")
        return rule

    def alert(self, alert_id: int) -> Alert:
        alert = alert_selectors.project_alert(self.project, alert_id)
        if alert is None:
            raise NotFound("No such alert in this project")
        return alert


class RuleList(_AlertsAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "POST": Perm.MANAGE_ALERTS}

    @extend_schema(
        responses=_OBJECT,
        operation_id="v1_projects_alert_rules_list",
        summary="Alert rules of a project, and the metrics each kind may watch",
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response({"results": [rule_dict(r) for r in alert_selectors.project_rules(self.project)], **catalogue()})

    @extend_schema(request=_OBJECT, responses={201: _OBJECT}, summary="Create an alert rule")
    def post(self, request: Request, slug: str) -> Response:
        try:
            rule = rules.rule_create(project=self.project, user=request.user, data=request.data)
        except rules.RuleError as exc:
            raise _rule_error(exc) from exc
        return Response(rule_dict(self.rule(rule.pk)), status=status.HTTP_201_CREATED)


class RuleDetail(_AlertsAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "PATCH": Perm.MANAGE_ALERTS, "DELETE": Perm.MANAGE_ALERTS}

    @extend_schema(responses=_OBJECT, summary="One alert rule")
    def get(self, request: Request, slug: str, rule_id: int) -> Response:
        return Response(rule_dict(self.rule(rule_id)))

    @extend_schema(request=_OBJECT, responses=_OBJECT, summary="Change an alert rule (the fields given)")
    def patch(self, request: Request, slug: str, rule_id: int) -> Response:
        try:
            rules.rule_update(rule=self.rule(rule_id), user=request.user, data=request.data)
        except rules.RuleError as exc:
            raise _rule_error(exc) from exc
        return Response(rule_dict(self.rule(rule_id)))

    @extend_schema(responses={204: None}, summary="Delete an alert rule with its alerts")
    def delete(self, request: Request, slug: str, rule_id: int) -> Response:
        rules.rule_delete(rule=self.rule(rule_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


_ALERT_FILTERS = [
    OpenApiParameter("state", str, enum=list(Alert.State.values)),
    OpenApiParameter("severity", str, enum=["warning", "critical"]),
    OpenApiParameter("rule", int, description="the id of the rule that opened the alert"),
    OpenApiParameter("limit", int, description=f"1 to {alert_selectors.MAX_LIMIT}, default 50"),
    OpenApiParameter("cursor", str, description="the `next` cursor of the previous page"),
]


class AlertList(_AlertsAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(
        parameters=_ALERT_FILTERS,
        responses=_OBJECT,
        operation_id="v1_projects_alerts_list",
        summary="Alerts of a project, newest first",
    )
    def get(self, request: Request, slug: str) -> Response:
        try:
            filters = alert_selectors.parse_alert_filters(request.query_params)
        except alert_selectors.AlertFilterError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        alerts, cursor = alert_selectors.alert_page(self.project, filters)
        next_url = None
        if cursor:
            params = request.query_params.copy()
            params["cursor"] = cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": [alert_dict(a) for a in alerts], "next": next_url})


class AlertDetail(_AlertsAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(responses=_OBJECT, summary="One alert with its history")
    def get(self, request: Request, slug: str, alert_id: int) -> Response:
        alert = self.alert(alert_id)
        return Response({**alert_dict(alert), "events": [event_dict(e) for e in alert_selectors.alert_events(alert)]})


def _body(data: Any, allowed: set[str]) -> dict[str, Any]:
    if data is None or data == {}:
        return {}
    if not isinstance(data, dict):
        raise ValidationError({"detail": ["Send a JSON object."]})
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    note = data.get("note", "")
    if not isinstance(note, str) or len(note) > 500:
        raise ValidationError({"note": ["A note is text of at most 500 characters."]})
    return dict(data)


def _mute_until(body: dict[str, Any]) -> Any:
    minutes, until = body.get("minutes"), body.get("until")
    if (minutes is None) == (until is None):
        raise ValidationError({"minutes": ["Give either minutes or until."]})
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MUTE_MINUTES:
            raise ValidationError({"minutes": [f"Give a whole number of minutes from 1 to {MAX_MUTE_MINUTES}."]})
        return timezone.now() + timedelta(minutes=minutes)
    moment = parse_datetime(until) if isinstance(until, str) else None
    if moment is None or moment.tzinfo is None:
        raise ValidationError({"until": ["Give an ISO 8601 date-time with a time zone, such as 2026-12-08T09:00:00Z."]})
    return moment


class _AlertAction(_AlertsAPIView):
    required_perms = {"POST": Perm.MANAGE_ALERTS}
    fields: set[str] = {"note"}

    def act(self, alert: Alert, user: Any, body: dict[str, Any]) -> Alert:
        raise NotImplementedError

    @extend_schema(request=_OBJECT, responses=_OBJECT)
    def post(self, request: Request, slug: str, alert_id: int) -> Response:
        alert = self.alert(alert_id)
        body = _body(request.data, self.fields)
        try:
            self.act(alert, request.user, body)
        except AlertActionError as exc:
            code = status.HTTP_400_BAD_REQUEST if exc.field == "until" else status.HTTP_409_CONFLICT
            return Response({exc.field: [exc.message]}, status=code)
        return Response(alert_dict(self.alert(alert_id)))


class AlertAcknowledge(_AlertAction):
    def act(self, alert: Alert, user: Any, body: dict[str, Any]) -> Alert:
        return alert_acknowledge(alert=alert, user=user, note=body.get("note", ""))


class AlertMute(_AlertAction):
    fields = {"note", "minutes", "until"}

    def act(self, alert: Alert, user: Any, body: dict[str, Any]) -> Alert:
        return alert_mute(alert=alert, user=user, until=_mute_until(body), note=body.get("note", ""))


class AlertUnmute(_AlertAction):
    fields = set()

    def act(self, alert: Alert, user: Any, body: dict[str, Any]) -> Alert:
        return alert_unmute(alert=alert, user=user)
