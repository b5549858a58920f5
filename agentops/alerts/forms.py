"""The rule editor's form, one shape per kind, and the alert page's mute form. They only parse: every
check of a rule is agentops.alerts.rules' (RuleError), whose field names map back onto the form's here.

A rule's `params` are flat fields of the form (limit_usd, period, ...); scope keys are `scope_<key>`.
"""

from __future__ import annotations

from typing import Any

from django import forms

from agentops.alerts import rules
from agentops.alerts.evaluation.base import SCOPE_KEYS
from agentops.alerts.models import AlertRule, RuleKind
from agentops.notify.models import Channel

# The fields of each kind's form beyond name, scope, channels, renotify and enabled.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    RuleKind.THRESHOLD: ("metric", "window_minutes", "direction", "warning", "critical", "min_sample"),
    RuleKind.SPIKE: (
        *("metric", "window_minutes", "direction", "warning", "critical", "min_sample"),
        *("days", "min_baseline", "min_value"),
    ),
    RuleKind.BUDGET: ("limit_usd", "period", "timezone", "soft_percents"),
    RuleKind.DRIFT: ("window_minutes", "min_sample", "metrics"),
}
PARAM_FIELDS = ("days", "min_baseline", "min_value", "limit_usd", "period", "timezone", "soft_percents", "metrics")
COMMON_FIELDS = ("name", "renotify_minutes", "channels", "enabled")

HELP: dict[str, str] = {
    RuleKind.THRESHOLD: "Levels are in the metric's unit; a rate is a share from 0 to 1 (0.1 is 10%).",
    RuleKind.SPIKE: "Levels are factors of the baseline, the median of the same window on the previous days "
    "(2 is twice the usual).",
    RuleKind.BUDGET: "Warns at each soft percent of the limit, and is critical at the limit.",
    RuleKind.DRIFT: "Judges each bundle with runs in the window against its baseline: a failing verdict is "
    "critical, a marginal one a warning.",
}


class RuleForm(forms.Form):
    name = forms.CharField(max_length=rules.MAX_NAME)
    metric = forms.ChoiceField(choices=())
    window_minutes = forms.IntegerField(
        label="Window (minutes)", min_value=rules.MIN_WINDOW, max_value=rules.MAX_WINDOW
    )
    direction = forms.ChoiceField(
        choices=AlertRule.Direction.choices, help_text="Alert when the value is above or below the levels."
    )
    warning = forms.FloatField(required=False, label="Warning level")
    critical = forms.FloatField(required=False, label="Critical level")
    min_sample = forms.IntegerField(
        label="Minimum runs", min_value=0, max_value=rules.MAX_SAMPLE, help_text="Fewer runs in the window: no verdict."
    )
    days = forms.IntegerField(label="Days of baseline", min_value=1, max_value=rules.SPIKE_MAX_DAYS, initial=7)
    min_baseline = forms.FloatField(label="Smallest baseline judged", min_value=0, initial=0)
    min_value = forms.FloatField(
        label="Smallest value judged", min_value=0, help_text="With no baseline, alert only from this value."
    )
    limit_usd = forms.FloatField(label="Limit (US dollars)")
    period = forms.ChoiceField(choices=[(p, p) for p in rules.BUDGET_PERIODS])
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="An IANA name, such as Europe/Paris.")
    soft_percents = forms.CharField(
        max_length=100, required=False, initial="80", help_text="Percents of the limit that warn, such as 80, 95."
    )
    metrics = forms.MultipleChoiceField(
        choices=[(m, m) for m in rules.DRIFT_METRICS], widget=forms.CheckboxSelectMultiple, label="Compare"
    )
    renotify_minutes = forms.IntegerField(
        required=False,
        label="Remind every (minutes)",
        min_value=rules.MIN_RENOTIFY,
        max_value=rules.MAX_WINDOW,
        help_text="While an alert stays open and unacknowledged; empty: never.",
    )
    channels = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: every channel of the project."
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, kind: str, channels: list[Channel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        shown = {*COMMON_FIELDS, *KIND_FIELDS[kind]}
        for name in list(self.fields):
            if name not in shown:
                del self.fields[name]
        if "metric" in self.fields:
            metric_field = self.fields["metric"]
            assert isinstance(metric_field, forms.ChoiceField)
            metric_field.choices = [(m.name, f"{m.label} ({m.unit})") for m in rules.METRICS[kind].values()]
        channel_field = self.fields["channels"]
        assert isinstance(channel_field, forms.MultipleChoiceField)
        channel_field.choices = [(str(c.pk), f"{c.name} ({c.get_kind_display()})") for c in channels]
        if not channels:
            del self.fields["channels"]
        keys = rules.BUDGET_SCOPE_KEYS if kind == RuleKind.BUDGET else SCOPE_KEYS
        for key in keys:
            label = "End user" if key == "user" else key.capitalize()
            self.fields[f"scope_{key}"] = forms.CharField(
                max_length=rules.MAX_SCOPE_VALUE, required=False, label=f"Scope: {label}"
            )
        if kind == RuleKind.SPIKE:
            self.fields["min_value"].required = True
        for name in ("min_baseline", "days"):
            if name in self.fields:
                self.fields[name].required = True

    @property
    def scope_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("scope_")]

    @property
    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith("scope_")]

    @staticmethod
    def initial_for(rule: AlertRule | None, kind: str, channel_ids: list[int]) -> dict[str, Any]:
        values: dict[str, Any] = {**rules.KIND_DEFAULTS[kind], "enabled": True, "direction": "above"}
        params: dict[str, Any] = {}
        if kind == RuleKind.SPIKE:
            params = {"days": 7, "min_baseline": 0, "min_value": 0.01}
        elif kind == RuleKind.DRIFT:
            params = {"metrics": list(rules.DRIFT_DEFAULT_METRICS)}
        elif kind == RuleKind.BUDGET:
            params = {"timezone": "UTC", "soft_percents": [80], "period": "month"}
        if rule is not None:
            values = rules.rule_values(rule)
            params = dict(rule.params)
        values.update({f"scope_{k}": v for k, v in (values.pop("scope", None) or {}).items()})
        values.pop("params", None)
        if isinstance(params.get("soft_percents"), list):
            params["soft_percents"] = ", ".join(str(p) for p in params["soft_percents"])
        return {**values, **params, "channels": [str(c) for c in channel_ids]}

    def rule_data(self) -> dict[str, Any]:
        """The cleaned form as the `data` of rule_create / rule_update: every field the kind shows."""
        cleaned = self.cleaned_data
        data: dict[str, Any] = {"kind": self.kind}
        params: dict[str, Any] = {}
        scope: dict[str, str] = {}
        for name, value in cleaned.items():
            if name.startswith("scope_"):
                scope[name.removeprefix("scope_")] = value.strip()
            elif name in PARAM_FIELDS:
                params[name] = value
            elif name == "channels":
                data["channels"] = [int(c) for c in value]
            else:
                data[name] = value
        if "soft_percents" in params:
            params["soft_percents"] = _percents(params["soft_percents"])
        if "timezone" in params:
            params["timezone"] = params["timezone"].strip()
        if "metrics" in params:
            params["metrics"] = list(params["metrics"])
        if "channels" in self.fields and "channels" not in data:
            data["channels"] = []
        data["scope"] = scope
        data["params"] = params
        return data

    def add_rule_error(self, error: rules.RuleError) -> None:
        """Show the service's error on the field it names (a parameter on its flat field)."""
        field = error.field.removeprefix("params.")
        self.add_error(field if field in self.fields else None, error.message)


def _percents(text: str) -> Any:
    """ "80, 95" -> [80, 95]; anything else is handed on as it is, for the service to refuse by name."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        return parts


MUTE_CHOICES = [(60, "1 hour"), (240, "4 hours"), (1440, "1 day"), (10080, "1 week")]


class MuteForm(forms.Form):
    minutes = forms.TypedChoiceField(choices=MUTE_CHOICES, coerce=int)
    note = forms.CharField(max_length=500, required=False)


class NoteForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)
