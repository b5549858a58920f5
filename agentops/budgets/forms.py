"""The budgets page's forms. They only parse: every check of a budget is agentops.budgets.services'
(BudgetInvalid), whose field names map back onto the form's fields here, so the error shows beside
the field it is about. A raise request's checks are agentops.budgets.raise_requests'.
"""

from __future__ import annotations

from typing import Any

from django import forms

from agentops.budgets.models import Budget, ScopeKind
from agentops.budgets.windows import MAX_ROLLING_HOURS, PERIODS, rolling_hours
from agentops.errors import FieldError

WINDOW_CHOICES = [*((p, p) for p in PERIODS), ("rolling", "rolling (hours below)")]


class BudgetForm(forms.Form):
    scope_kind = forms.ChoiceField(label="Scope", choices=ScopeKind.choices, initial=ScopeKind.PROJECT)
    scope_value = forms.CharField(
        label="Scope value",
        required=False,
        help_text="The agent, bundle, customer (end user id) or session; empty for the project.",
    )
    limit_usd = forms.DecimalField(label="Limit (US dollars)", max_digits=20, decimal_places=10)
    limit_tokens = forms.IntegerField(label="Token limit", required=False, help_text="Optional.")
    window = forms.ChoiceField(choices=WINDOW_CHOICES, initial="month")
    rolling_hours = forms.IntegerField(
        label="Rolling hours", required=False, help_text=f"For a rolling window: 1 to {MAX_ROLLING_HOURS}."
    )
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="An IANA name, such as Europe/Berlin.")
    soft_percent = forms.CharField(
        label="Soft percents",
        max_length=100,
        required=False,
        help_text="Percents of the limit that alert, such as 50, 80.",
    )
    hard = forms.BooleanField(label="Hard limit (refuse reservations past it)", required=False, initial=True)

    @staticmethod
    def initial_for(budget: Budget) -> dict[str, Any]:
        hours = rolling_hours(budget.window)
        return {
            "scope_kind": budget.scope_kind,
            "scope_value": budget.scope_value,
            "limit_usd": budget.limit_usd.normalize(),
            "limit_tokens": budget.limit_tokens,
            "window": "rolling" if hours else budget.window,
            "rolling_hours": hours,
            "timezone": budget.timezone,
            "soft_percent": ", ".join(f"{p:g}" for p in budget.soft_percent),
            "hard": budget.hard,
        }

    def budget_data(self) -> dict[str, Any]:
        """The cleaned form as the `data` of budget_create / budget_update."""
        cleaned = self.cleaned_data
        kind, value = cleaned["scope_kind"], cleaned["scope_value"].strip()
        window = cleaned["window"]
        if window == "rolling":
            window = f"rolling:{cleaned['rolling_hours']}" if cleaned["rolling_hours"] is not None else "rolling:"
        return {
            "scope": {} if kind == ScopeKind.PROJECT else {kind: value},
            "limit_usd": str(cleaned["limit_usd"]),
            "limit_tokens": cleaned["limit_tokens"],
            "window": window,
            "timezone": cleaned["timezone"].strip(),
            "soft_percent": _percents(cleaned["soft_percent"]),
            "hard": cleaned["hard"],
        }

    def add_budget_error(self, error: FieldError) -> None:
        """Show the service's error beside the field it names."""
        field = {
            "scope": "scope_value",
            "window": "rolling_hours" if self.data.get("window") == "rolling" else "window",
        }
        name = field.get(error.field, error.field)
        self.add_error(name if name in self.fields else None, error.message)


def _percents(text: str) -> Any:
    """ "50, 80" -> [50, 80]; anything else is handed on as it is, for the service to refuse by name."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        return parts


class RaiseForm(forms.Form):
    to_usd = forms.DecimalField(label="New hard limit (US dollars)", max_digits=20, decimal_places=10)
    reason = forms.CharField(max_length=400, widget=forms.Textarea(attrs={"rows": 3}))

    def add_raise_error(self, error: FieldError) -> None:
        self.add_error(error.field if error.field in self.fields else None, error.message)
