"""The alerts pages: the project's alerts, one alert with its history and deliveries, and its rules.

GET  /p/<slug>/alerts/?state=&severity=&rule=&cursor=   alerts of one state (default open), newest first
GET  /p/<slug>/alerts/<alert_id>/                       one alert: what it says, its history (AlertEvents),
                                                        the notifications sent about it and their attempts
POST /p/<slug>/alerts/<alert_id>/acknowledge/           acknowledge (note optional)
POST /p/<slug>/alerts/<alert_id>/mute/                  mute for `minutes` (note optional)
POST /p/<slug>/alerts/<alert_id>/unmute/                unmute
GET  /p/<slug>/alerts/rules/                            the rules, with their live alerts
GET  /p/<slug>/alerts/rules/new/?kind=<kind>            the editor for a new rule of that kind; POST creates
GET  /p/<slug>/alerts/rules/<rule_id>/                  the editor of a rule; POST saves it
POST /p/<slug>/alerts/rules/<rule_id>/enabled/          enable (enabled=1) or disable (enabled=0)
POST /p/<slug>/alerts/rules/<rule_id>/delete/           delete the rule with its alerts

Viewers read the alerts and the rules; acting on alerts and editing rules need "manage alerts"
(Engineer and above), as in the API (agentops.alerts.api). The project comes from the tenancy chokepoint
(`project_view`): another tenant, or a member without the permission, gets 404 whatever the method;
another project's alert or rule id is 404 too. A POST from htmx gets the changed part back (the alert's
state and history, a rule's row, or an empty answer after a delete); a plain form post is redirected.
A bad filter answers 400 with the list and the message; a refused rule answers 400 with the editor and
each error beside its field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from agentops.alerts import alert_selectors, rules
from agentops.alerts.forms import HELP, MuteForm, NoteForm, RuleForm
from agentops.alerts.models import Alert, AlertRule, RuleKind
from agentops.alerts.presenters import runs_path
from agentops.alerts.services import AlertActionError, alert_acknowledge, alert_mute, alert_unmute
from agentops.notify.selectors import project_channels
from agentops.pages import is_htmx, project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

STATE_TABS = [(s.value, s.label) for s in Alert.State]


def number(value: float | None) -> str:
    """A value as a person reads it: four significant digits, no exponent for everyday sizes."""
    if value is None:
        return "-"
    return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.3e}"


def compare_link(alert: Alert) -> str | None:
    """For drift: the bundle comparison page of the alert's bundle against its baseline (None when the
    alert names no agent and bundle)."""
    scope, details = alert.scope or {}, alert.details or {}
    if alert.kind != RuleKind.DRIFT or not scope.get("agent") or not scope.get("bundle"):
        return None
    path = reverse("bundle_compare", kwargs={"slug": alert.project.slug, "agent": scope["agent"]})
    baseline = details.get("baseline")
    query = {
        "candidate": scope["bundle"],
        "baseline": baseline if isinstance(baseline, str) else "",
        "environment": scope.get("environment") or "",
    }
    return f"{path}?{urlencode({k: v for k, v in query.items() if v})}"


def _row(alert: Alert) -> dict[str, Any]:
    return {
        "a": alert,
        "scope": sorted((alert.scope or {}).items()),
        "value": number(alert.value),
        "baseline": number(alert.baseline_value),
        "runs": runs_path(alert),
        "compare": compare_link(alert),
        "muted": alert.muted_until is not None and alert.muted_until > timezone.now(),
    }


def _manage(request: HttpRequest, project: Project) -> bool:
    return Perm.MANAGE_ALERTS in project_perms(request, project)


@project_view(Perm.VIEW_PROJECT)
def alerts(request: HttpRequest, project: Project) -> HttpResponse:
    params = request.GET.copy()
    params.setdefault("state", Alert.State.OPEN)
    error, status = None, 200
    try:
        filters = alert_selectors.parse_alert_filters(params)
    except alert_selectors.AlertFilterError as exc:
        error, status = f"{exc.field}: {exc.message}", 400
        filters = alert_selectors.AlertFilters(state=Alert.State.OPEN)
    found, cursor = alert_selectors.alert_page(project, filters)
    kept = {k: v for k, v in (("severity", filters.severity), ("rule", filters.rule)) if v}
    context = {
        "tab": "alerts",
        "rows": [_row(a) for a in found],
        "filters": filters,
        "state_tabs": [(value, label, urlencode({**kept, "state": value})) for value, label in STATE_TABS],
        "counts": alert_selectors.alert_counts(project),
        "rules": alert_selectors.rule_choices(project),
        "next_query": urlencode({**kept, "state": filters.state or "", "cursor": cursor}) if cursor else None,
        "error": error,
    }
    return render_project(request, project, "alerts/alerts.html", context, status=status)


def _alert(project: Project, alert_id: int) -> Alert:
    alert = alert_selectors.project_alert(project, alert_id)
    if alert is None:
        raise Http404("No such alert")
    return alert


def _detail_context(request: HttpRequest, project: Project, alert: Alert) -> dict[str, Any]:
    return {
        "project": project,
        "row": _row(alert),
        "events": alert_selectors.alert_events(alert),
        "manage": _manage(request, project),
        "mute_form": MuteForm(),
    }


@project_view(Perm.VIEW_PROJECT)
def alert_detail(request: HttpRequest, project: Project, alert_id: int) -> HttpResponse:
    alert = _alert(project, alert_id)
    context = {
        **_detail_context(request, project, alert),
        "tab": "alerts",
        "deliveries": alert_selectors.alert_messages(alert),
    }
    return render_project(request, project, "alerts/alert_detail.html", context)


def _after_alert_action(request: HttpRequest, project: Project, alert_id: int, done: str) -> HttpResponse:
    if is_htmx(request):
        context = _detail_context(request, project, _alert(project, alert_id))
        return render(request, "alerts/_alert_live.html", context)
    messages.success(request, done)
    return redirect("alert_detail", slug=project.slug, alert_id=alert_id)


def _refused(request: HttpRequest, project: Project, alert_id: int, message: str) -> HttpResponse:
    if is_htmx(request):
        return HttpResponse(message, status=409, content_type="text/plain; charset=utf-8")
    messages.error(request, message)
    return redirect("alert_detail", slug=project.slug, alert_id=alert_id)


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def alert_acknowledge_view(request: HttpRequest, project: Project, alert_id: int) -> HttpResponse:
    alert = _alert(project, alert_id)
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        alert_acknowledge(alert=alert, user=request.user, note=note)
    except AlertActionError as exc:
        return _refused(request, project, alert_id, exc.message)
    return _after_alert_action(request, project, alert_id, "Alert acknowledged.")


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def alert_mute_view(request: HttpRequest, project: Project, alert_id: int) -> HttpResponse:
    alert = _alert(project, alert_id)
    form = MuteForm(request.POST)
    if not form.is_valid():
        return _refused(request, project, alert_id, "Choose how long to mute the alert for.")
    until = timezone.now() + timedelta(minutes=form.cleaned_data["minutes"])
    try:
        alert_mute(alert=alert, user=request.user, until=until, note=form.cleaned_data["note"])
    except AlertActionError as exc:
        return _refused(request, project, alert_id, exc.message)
    return _after_alert_action(request, project, alert_id, "Alert muted.")


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def alert_unmute_view(request: HttpRequest, project: Project, alert_id: int) -> HttpResponse:
    try:
        alert_unmute(alert=_alert(project, alert_id), user=request.user)
    except AlertActionError as exc:
        return _refused(request, project, alert_id, exc.message)
    return _after_alert_action(request, project, alert_id, "Alert unmuted.")


# --- rules ---------------------------------------------------------------------------------------


def _rule(project: Project, rule_id: int) -> AlertRule:
    rule = alert_selectors.project_rule(project, rule_id)
    if rule is None:
        raise Http404("No such alert rule")
    return rule


def _rule_row_context(request: HttpRequest, project: Project, rule: AlertRule) -> dict[str, Any]:
    return {"project": project, "rule": rule, "manage": _manage(request, project)}


@project_view(Perm.VIEW_PROJECT)
def alert_rules(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "tab": "alerts",
        "rules": list(alert_selectors.project_rules(project)),
        "manage": _manage(request, project),
        "kinds": [(k.value, k.label) for k in RuleKind],
    }
    return render_project(request, project, "alerts/rules.html", context)


def _editor(
    request: HttpRequest, project: Project, form: RuleForm, rule: AlertRule | None, status: int = 200
) -> HttpResponse:
    context = {"tab": "alerts", "form": form, "rule": rule, "kind": form.kind, "help": HELP[form.kind]}
    return render_project(request, project, "alerts/rule_edit.html", context, status=status)


def _save(request: HttpRequest, project: Project, form: RuleForm, rule: AlertRule | None) -> HttpResponse:
    if form.is_valid():
        try:
            if rule is None:
                saved = rules.rule_create(project=project, user=request.user, data=form.rule_data())
            else:
                saved = rules.rule_update(rule=rule, user=request.user, data=form.rule_data())
        except rules.RuleError as exc:
            form.add_rule_error(exc)
        else:
            messages.success(request, f"Rule {saved.name} saved.")
            return redirect("alert_rules", slug=project.slug)
    return _editor(request, project, form, rule, status=400)


@project_view(Perm.MANAGE_ALERTS, methods=["GET", "POST"])
def alert_rule_create(request: HttpRequest, project: Project) -> HttpResponse:
    kind = request.GET.get("kind") or RuleKind.THRESHOLD
    if kind not in RuleKind.values:
        raise Http404("No such kind of rule")
    channels = list(project_channels(project))
    if request.method == "POST":
        return _save(request, project, RuleForm(request.POST, kind=kind, channels=channels), None)
    form = RuleForm(initial=RuleForm.initial_for(None, kind, []), kind=kind, channels=channels)
    return _editor(request, project, form, None)


@project_view(Perm.MANAGE_ALERTS, methods=["GET", "POST"])
def alert_rule_edit(request: HttpRequest, project: Project, rule_id: int) -> HttpResponse:
    rule = _rule(project, rule_id)
    channels = list(project_channels(project))
    if request.method == "POST":
        return _save(request, project, RuleForm(request.POST, kind=rule.kind, channels=channels), rule)
    initial = RuleForm.initial_for(rule, rule.kind, [c.pk for c in rule.channels.all()])
    return _editor(request, project, RuleForm(initial=initial, kind=rule.kind, channels=channels), rule)


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def alert_rule_enabled(request: HttpRequest, project: Project, rule_id: int) -> HttpResponse:
    rule = _rule(project, rule_id)
    enable = request.POST.get("enabled") == "1"
    try:
        rules.rule_update(rule=rule, user=request.user, data={"enabled": enable})
    except rules.RuleError as exc:  # a rule saved before a check it now fails: the editor says which
        message = f"Rule {rule.name} cannot be {'enabled' if enable else 'disabled'} as it is: {exc}. Edit it."
        if is_htmx(request):
            return HttpResponse(message, status=409, content_type="text/plain; charset=utf-8")
        messages.error(request, message)
        return redirect("alert_rules", slug=project.slug)
    if is_htmx(request):
        return render(request, "alerts/_rule_row.html", _rule_row_context(request, project, _rule(project, rule_id)))
    messages.success(request, f"Rule {rule.name} {'enabled' if enable else 'disabled'}.")
    return redirect("alert_rules", slug=project.slug)


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def alert_rule_delete(request: HttpRequest, project: Project, rule_id: int) -> HttpResponse:
    rule = _rule(project, rule_id)
    rules.rule_delete(rule=rule, user=request.user)
    if is_htmx(request):
        return HttpResponse("")
    messages.success(request, f"Rule {rule.name} deleted.")
    return redirect("alert_rules", slug=project.slug)
