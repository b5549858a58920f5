"""Alert rules: what each kind may measure, every check of a rule's fields, their writes, and the
default rules every project starts with.

- `METRICS` is the catalogue per kind (name -> label and unit) that the rule editor and the API show.
- `rule_create(*, project, user, data)` -> AlertRule; `rule_update(*, rule, user, data)` (partial:
  only the fields given change; the whole rule is checked again) -> AlertRule; `rule_delete(*, rule,
  user)`. `data` is plain data as the API receives it (a JSON object: see FIELDS); the pages' form
  hands over the same shape. Each raises RuleError(field, message) naming the first field at fault
  (`params.<name>` for a kind's own parameter) and writes nothing then. Each write is an audit record
  in the rule's transaction.
- `ensure_default_rules(project)` -> the default rules it created (none when the project has them).
  Called by tenancy's project_create and by migration 0002 for the projects that existed before.

A rule's kind is fixed once made: a threshold and a budget share almost nothing, so changing one into
the other is a new rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from agentops.alerts.comparison import PROPORTIONS, VALUES
from agentops.alerts.evaluation.base import SCOPE_KEYS
from agentops.alerts.models import AlertRule, RuleKind
from agentops.errors import FieldError
from agentops.notify.models import Channel
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project


class RuleError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    label: str
    unit: str  # what the value is measured in ("share" is 0..1)


def _catalogue(*metrics: Metric) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


# Levels of a threshold are in the metric's unit; of a spike, a factor of its baseline; a budget alerts
# at its soft percents and at 100% of its limit; a drift alert's severity is the comparison's verdict.
METRICS: dict[str, dict[str, Metric]] = {
    RuleKind.THRESHOLD: _catalogue(
        Metric("error_rate", "Error rate (share of runs that failed)", "share"),
        Metric("unfinished_rate", "Unfinished rate (share of runs that never ended)", "share"),
        Metric("tool_error_rate", "Tool error rate (share of tool calls that failed)", "share"),
        Metric("latency_p50_ms", "Run duration, median", "ms"),
        Metric("latency_p95_ms", "Run duration, 95th percentile", "ms"),
        Metric("latency_p99_ms", "Run duration, 99th percentile", "ms"),
        Metric("cost_usd", "Cost, summed over the window", "USD"),
        Metric("cost_per_run_usd", "Cost per run", "USD"),
        Metric("tokens_per_run", "Tokens per run", "tokens"),
        Metric("steps_per_run", "Steps per run", "steps"),
        Metric("tool_calls_per_run", "Tool calls per run", "calls"),
        Metric("llm_calls_per_run", "LLM calls per run", "calls"),
        Metric("runs", "Runs (count)", "runs"),
        Metric("runaway_runs", "Runaway runs (past their agent's step cap)", "runs"),
    ),
    RuleKind.SPIKE: _catalogue(
        Metric("cost_usd", "Cost", "USD"),
        Metric("runs", "Runs", "runs"),
        Metric("errors", "Failed runs", "runs"),
        Metric("tokens", "Tokens", "tokens"),
    ),
    RuleKind.BUDGET: _catalogue(Metric("cost_usd", "Spend", "USD")),
    RuleKind.DRIFT: {},
}
# What a drift rule may compare (agentops.alerts.comparison), and what it compares unless told.
DRIFT_METRICS = tuple(spec.name for spec, _ in [*PROPORTIONS, *VALUES])
DRIFT_DEFAULT_METRICS = ("error_rate", "unfinished_rate", "duration_ms", "cost_usd", "steps", "tool_calls")
SHARE_METRICS = frozenset({"error_rate", "unfinished_rate", "tool_error_rate"})

# The fields a rule takes, in the API and the editor. `channels` is a list of the project's channel ids.
FIELDS = (
    "name",
    "kind",
    "metric",
    "scope",
    "window_minutes",
    "warning",
    "critical",
    "direction",
    "min_sample",
    "params",
    "renotify_minutes",
    "channels",
    "enabled",
)
BUDGET_SCOPE_KEYS = ("agent", "environment", "user")
BUDGET_PERIODS = ("day", "week", "month")
# A minute to a week: a one-minute window suits a canary's first minutes of traffic (and the end-to-end
# test); reminders come no oftener than every five minutes.
MIN_WINDOW, MAX_WINDOW = 1, 10080
MIN_RENOTIFY = 5
MAX_NAME = 200
MAX_SCOPE_VALUE = 200
MAX_SAMPLE = 1_000_000
MAX_SOFT_PERCENTS = 5
SPIKE_MAX_DAYS = 28

# What a new rule of each kind is unless told otherwise.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    RuleKind.THRESHOLD: {"window_minutes": 60, "min_sample": 20},
    RuleKind.SPIKE: {"window_minutes": 60, "min_sample": 0},
    RuleKind.BUDGET: {"metric": "cost_usd", "window_minutes": 60, "min_sample": 0},
    RuleKind.DRIFT: {"window_minutes": 1440, "min_sample": 20},
}

# Every project starts with these (is_default=True): few and quiet. A drift rule judges each new bundle
# against its baseline on the execution shape (latency, cost, steps, tool calls per run included), so
# no latency or cost threshold is needed by default. Migration 0002 holds a frozen copy.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "Drift of new bundles",
        "kind": RuleKind.DRIFT,
        "metric": "",
        "window_minutes": 1440,
        "min_sample": 20,
        "params": {"metrics": list(DRIFT_DEFAULT_METRICS)},
    },
    {
        "name": "Error rate",
        "kind": RuleKind.THRESHOLD,
        "metric": "error_rate",
        "window_minutes": 60,
        "warning": 0.1,
        "critical": 0.25,
        "min_sample": 20,
    },
)


# --- checks of one field each -------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(field: str, value: Any, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(field, "Give a number.")
    return float(value)


def _int_in(field: str, value: Any, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise RuleError(field, f"Give a whole number from {low} to {high}.")
    return int(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleError("name", "Give the rule a name.")
    if len(value.strip()) > MAX_NAME:
        raise RuleError("name", f"A name has at most {MAX_NAME} characters.")
    return value.strip()


def _scope(kind: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RuleError("scope", f"Give an object with any of {', '.join(SCOPE_KEYS)}.")
    allowed = BUDGET_SCOPE_KEYS if kind == RuleKind.BUDGET else SCOPE_KEYS
    scope: dict[str, str] = {}
    for key, item in value.items():
        if key not in allowed:
            raise RuleError("scope", f"Unknown scope key {str(key)[:50]!r}: use any of {', '.join(allowed)}.")
        if item is None or item == "":
            continue  # an empty filter is no filter
        if not isinstance(item, str) or len(item) > MAX_SCOPE_VALUE:
            raise RuleError("scope", f"scope.{key} is a name of at most {MAX_SCOPE_VALUE} characters.")
        scope[key] = item
    return dict(sorted(scope.items()))


def _metric(kind: str, value: Any) -> str:
    if kind == RuleKind.DRIFT:
        if value not in (None, ""):
            raise RuleError("metric", "A drift rule has no metric: list what it compares in params.metrics.")
        return ""
    choices = METRICS[kind]
    if value is None and "metric" in KIND_DEFAULTS[kind]:
        value = KIND_DEFAULTS[kind]["metric"]
    if not isinstance(value, str) or value not in choices:
        raise RuleError("metric", f"A {kind} rule measures one of {', '.join(choices)}.")
    return value


def _channels(project: Project, value: Any) -> list[Channel]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(_is_int(v) for v in value):
        raise RuleError("channels", "Give a list of channel ids (empty: every channel of the project).")
    wanted = set(value)
    found = list(Channel.objects.filter(project=project, pk__in=wanted).order_by("name", "id"))
    if len(found) != len(wanted):
        missing = sorted(wanted - {c.pk for c in found})
        raise RuleError("channels", f"No channel {missing[0]} in this project.")
    return found


# --- a kind's own parameters --------------------------------------------------------------------


def _reject_params(params: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        what = f"one of {', '.join(allowed)}" if allowed else "no parameters"
        raise RuleError(f"params.{str(unknown[0])[:50]}", f"Unknown parameter: this kind takes {what}.")


def _params_threshold(params: Mapping[str, Any], metric: str) -> dict[str, Any]:
    _reject_params(params, ())
    return {}


def _params_spike(params: Mapping[str, Any], metric: str) -> dict[str, Any]:
    _reject_params(params, ("days", "min_baseline", "min_value"))
    days = _int_in("params.days", params.get("days", 7), 1, SPIKE_MAX_DAYS)
    out: dict[str, Any] = {"days": days}
    floor = 0.01 if metric == "cost_usd" else 10
    for key, default in (("min_baseline", 0), ("min_value", floor)):
        value = _number(f"params.{key}", params.get(key, default), allow_none=False)
        assert value is not None
        if value < 0:
            raise RuleError(f"params.{key}", "Give a number of at least 0.")
        out[key] = value
    return out


def _params_budget(params: Mapping[str, Any], metric: str) -> dict[str, Any]:
    _reject_params(params, ("limit_usd", "period", "timezone", "soft_percents"))
    if params.get("limit_usd") is None:
        raise RuleError("params.limit_usd", "A budget needs a limit in US dollars.")
    limit = _number("params.limit_usd", params["limit_usd"], allow_none=False)
    assert limit is not None
    if limit <= 0:
        raise RuleError("params.limit_usd", "A budget's limit is more than 0 US dollars.")
    period = params.get("period")
    if period not in BUDGET_PERIODS:
        raise RuleError("params.period", f"Choose the budget's period: one of {', '.join(BUDGET_PERIODS)}.")
    zone = params.get("timezone", "UTC")
    try:
        if not isinstance(zone, str) or not zone or len(zone) > 64:
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise RuleError("params.timezone", "Give an IANA time zone name, such as UTC or Europe/Paris.") from None
    percents = params.get("soft_percents", [80])
    if (
        not isinstance(percents, list | tuple)
        or len(percents) > MAX_SOFT_PERCENTS
        or not all(_is_int(p) and 1 <= p <= 99 for p in percents)
    ):
        raise RuleError(
            "params.soft_percents", f"Give up to {MAX_SOFT_PERCENTS} whole percents of the limit, each 1 to 99."
        )
    return {"limit_usd": limit, "period": period, "timezone": zone, "soft_percents": sorted(set(percents))}


def _params_drift(params: Mapping[str, Any], metric: str) -> dict[str, Any]:
    _reject_params(params, ("metrics",))
    metrics = params.get("metrics", list(DRIFT_DEFAULT_METRICS))
    if not isinstance(metrics, list | tuple) or not metrics or not all(m in DRIFT_METRICS for m in metrics):
        raise RuleError("params.metrics", f"List what to compare, among {', '.join(DRIFT_METRICS)}.")
    return {"metrics": [m for m in DRIFT_METRICS if m in metrics]}  # the catalogue's order, no repeats


_PARAMS = {
    RuleKind.THRESHOLD: _params_threshold,
    RuleKind.SPIKE: _params_spike,
    RuleKind.BUDGET: _params_budget,
    RuleKind.DRIFT: _params_drift,
}


# --- the whole rule -----------------------------------------------------------------------------


def _levels(kind: str, metric: str, direction: str, warning: Any, critical: Any) -> tuple[float | None, float | None]:
    w, c = _number("warning", warning), _number("critical", critical)
    if kind in (RuleKind.DRIFT, RuleKind.BUDGET):
        for field, value in (("warning", w), ("critical", c)):
            if value is not None:
                why = "its verdict" if kind == RuleKind.DRIFT else "params.soft_percents and the limit"
                raise RuleError(field, f"A {kind} rule takes its severity from {why}: leave the levels empty.")
        return None, None
    if w is None and c is None:
        raise RuleError("warning", "Set a warning level, a critical level, or both.")
    for field, value in (("warning", w), ("critical", c)):
        if value is None:
            continue
        if kind == RuleKind.SPIKE and value <= 0:
            raise RuleError(field, "A spike level is a factor of the baseline, more than 0 (2 is twice).")
        if value < 0:
            raise RuleError(field, "A level is at least 0.")
        if metric in SHARE_METRICS and value > 1:
            raise RuleError(field, "A rate is a share from 0 to 1 (0.1 is 10%).")
    if w is not None and c is not None:
        if direction == AlertRule.Direction.ABOVE and not w < c:
            raise RuleError("critical", "Alerting above a level, the critical level is higher than the warning.")
        if direction == AlertRule.Direction.BELOW and not w > c:
            raise RuleError("critical", "Alerting below a level, the critical level is lower than the warning.")
    return w, c


def _checked(project: Project, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[Channel] | None]:
    """The rule's fields, checked and normalized, from a complete set of values; and its channels when
    given (None: unchanged)."""
    kind = data.get("kind")
    if kind not in RuleKind.values:
        raise RuleError("kind", f"Choose one of {', '.join(RuleKind.values)}.")
    metric = _metric(kind, data.get("metric"))
    direction = data.get("direction") or AlertRule.Direction.ABOVE
    if direction not in AlertRule.Direction.values:
        raise RuleError("direction", "Choose above or below.")
    if kind in (RuleKind.DRIFT, RuleKind.BUDGET) and direction != AlertRule.Direction.ABOVE:
        raise RuleError("direction", f"A {kind} rule alerts above its limit only.")
    warning, critical = _levels(kind, metric, direction, data.get("warning"), data.get("critical"))
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise RuleError("params", "Give an object.")
    renotify = data.get("renotify_minutes")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("enabled", "Give true or false.")
    fields = {
        "name": _name(data.get("name")),
        "kind": kind,
        "metric": metric,
        "scope": _scope(kind, data.get("scope")),
        "window_minutes": _int_in("window_minutes", data.get("window_minutes"), MIN_WINDOW, MAX_WINDOW),
        "warning": warning,
        "critical": critical,
        "direction": direction,
        "min_sample": _int_in("min_sample", data.get("min_sample"), 0, MAX_SAMPLE),
        "params": _PARAMS[kind](params, metric),
        "renotify_minutes": None
        if renotify is None
        else _int_in("renotify_minutes", renotify, MIN_RENOTIFY, MAX_WINDOW),
        "enabled": enabled,
    }
    channels = _channels(project, data["channels"]) if "channels" in data else None
    return fields, channels


def _reject_unknown(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RuleError("detail", "Send a JSON object.")
    unknown = sorted(str(k) for k in set(data) - set(FIELDS))
    if unknown:
        raise RuleError(unknown[0][:50], "Unknown field.")
    return data


def rule_values(rule: AlertRule) -> dict[str, Any]:
    """The rule's fields as `data` (without channels, which cost a query)."""
    return {f: getattr(rule, f) for f in FIELDS if f != "channels"}


def _audit_view(rule: AlertRule, channels: list[Channel] | None = None) -> dict[str, Any]:
    view = rule_values(rule)
    if channels is not None:
        view["channels"] = [c.pk for c in channels]
    return view


@transaction.atomic
def rule_create(*, project: Project, user: Any, data: Mapping[str, Any]) -> AlertRule:
    data = _reject_unknown(data)
    kind = data.get("kind")
    merged = {**KIND_DEFAULTS.get(kind, {}), **data} if isinstance(kind, str) else dict(data)
    fields, channels = _checked(project, merged)
    rule = AlertRule.objects.create(
        project=project, created_by=user if getattr(user, "is_authenticated", False) else None, **fields
    )
    if channels:
        rule.channels.set(channels)
    audit_record(
        actor=user,
        action="alert_rule.create",
        target_type="alert_rule",
        target_id=rule.pk,
        target_label=rule.name,
        after=_audit_view(rule, channels or []),
        project=project,
    )
    return rule


@transaction.atomic
def rule_update(*, rule: AlertRule, user: Any, data: Mapping[str, Any]) -> AlertRule:
    """Change the fields given; the rule is checked whole, so a new warning must still sit below the
    critical level it keeps."""
    data = _reject_unknown(data)
    rule = AlertRule.objects.select_for_update().select_related("project").get(pk=rule.pk)
    if "kind" in data and data["kind"] != rule.kind:
        raise RuleError("kind", "A rule's kind cannot change: create a new rule of that kind.")
    before = _audit_view(rule)
    fields, channels = _checked(rule.project, {**rule_values(rule), **data})
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.save()
    if channels is not None:
        rule.channels.set(channels)
    audit_record(
        actor=user,
        action="alert_rule.update",
        target_type="alert_rule",
        target_id=rule.pk,
        target_label=rule.name,
        before=before,
        after={**_audit_view(rule, channels), "changed": sorted(data)},
        project=rule.project,
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule, user: Any) -> None:
    """Delete the rule with its alerts and their history (a default rule too: it is not made again)."""
    audit_record(
        actor=user,
        action="alert_rule.delete",
        target_type="alert_rule",
        target_id=rule.pk,
        target_label=rule.name,
        before=_audit_view(rule),
        project=rule.project,
    )
    rule.delete()


# The rule a project gets with its first step cap (agentops.budgets.caps): a run past a cap opens an
# alert. Default as the others are (is_default): made by no one, changed or disabled like any rule.
RUNAWAY_RULE: dict[str, Any] = {
    "name": "Runaway runs",
    "kind": RuleKind.THRESHOLD,
    "metric": "runaway_runs",
    "window_minutes": 60,
    "warning": 1,
    "min_sample": 0,
}


def ensure_runaway_rule(project: Project) -> AlertRule | None:
    """Create the project's runaway rule unless it has one (any rule on runaway_runs); the new rule or None.
    In the caller's transaction, which the project's row lock keeps to one such rule."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    if AlertRule.objects.filter(project=project, kind=RuleKind.THRESHOLD, metric="runaway_runs").exists():
        return None
    fields, _ = _checked(project, {**KIND_DEFAULTS[RuleKind.THRESHOLD], **RUNAWAY_RULE})
    return AlertRule.objects.create(project=project, is_default=True, **fields)


@transaction.atomic
def ensure_default_rules(project: Project) -> list[AlertRule]:
    """Create the default rules the project lacks (by kind and metric, among its default rules), so a
    second call creates nothing. Not audited: no one chose them; the project's creation is audited."""
    Project.objects.select_for_update().filter(pk=project.pk).first()  # two callers at once make one set
    have = set(AlertRule.objects.filter(project=project, is_default=True).values_list("kind", "metric"))
    made = []
    for default in DEFAULT_RULES:
        if (default["kind"], default["metric"]) in have:
            continue
        fields, _ = _checked(project, {**KIND_DEFAULTS[default["kind"]], **default})
        made.append(AlertRule.objects.create(project=project, is_default=True, **fields))
    return made
