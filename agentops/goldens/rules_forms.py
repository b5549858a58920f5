"""The forms of the sampling rule editor and of a review decision. They only parse: every check is the
services' (agentops.goldens.rules, agentops.goldens.review), whose GoldenError names a field of these."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from agentops.goldens.models import SamplingRule
from agentops.goldens.validation import GoldenError


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100, help_text='Letters, digits, ".", "_" and "-".')
    golden_set = forms.ChoiceField(label="Golden set", choices=(), help_text="Where accepted runs go.")
    filter = forms.CharField(
        required=False,
        max_length=2000,
        label="Run filter",
        help_text="The run list's query string, e.g. status=error&agent=support-bot (or paste a run list URL). "
        "Empty: every finished run.",
        widget=forms.TextInput(attrs={"class": "mono", "size": 70}),
    )
    sample_rate = forms.CharField(label="Sample rate (%)", help_text="More than 0, at most 100, e.g. 10 or 2.5.")
    auto_accept = forms.BooleanField(required=False, label="Add sampled runs to the set without review (auto-accept)")
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args: Any, set_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["golden_set"].choices = [(n, n) for n in set_names]  # type: ignore[attr-defined]

    @staticmethod
    def initial_for(rule: SamplingRule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "golden_set": rule.golden_set.name,
            "filter": rule.filter,
            "sample_rate": rule.rate_text,
            "auto_accept": rule.auto_accept,
            "enabled": rule.enabled,
        }

    def rule_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    def add_rule_error(self, exc: GoldenError) -> None:
        self.add_error(exc.field if exc.field in self.fields else None, exc.message)


class AcceptForm(forms.Form):
    """What a reviewer gives with an accepted run. The expected output is JSON when it reads as JSON and
    `as_json` is ticked, else the text as typed; empty: no expected output."""

    expected_output = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}))
    as_json = forms.BooleanField(required=False, initial=True, label="The expected output is JSON")
    assertions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text='A JSON list, e.g. [{"type": "no_error"}, {"type": "tools_called", "tools": ["lookup_order"]}]',
    )
    tags = forms.CharField(required=False, max_length=2200, help_text="Separated by commas.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def case_data(self) -> dict[str, Any]:
        """The accept's data; GoldenError naming the field that does not read."""
        data: dict[str, Any] = {}
        raw = self.cleaned_data["expected_output"]
        if raw.strip():
            if self.cleaned_data["as_json"]:
                try:
                    data["expected_output"] = json.loads(raw)
                except ValueError as exc:
                    raise GoldenError("expected_output", f"not JSON ({exc}); untick JSON to keep it as text") from None
            else:
                data["expected_output"] = raw
        if self.cleaned_data["assertions"].strip():
            try:
                data["assertions"] = json.loads(self.cleaned_data["assertions"])
            except ValueError as exc:
                raise GoldenError("assertions", f"not JSON: {exc}") from None
        tags = [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]
        if tags:
            data["tags"] = tags
        if self.cleaned_data["notes"]:
            data["notes"] = self.cleaned_data["notes"]
        return data

    def add_case_error(self, exc: GoldenError) -> None:
        field = exc.field.split("[", 1)[0].split(".", 1)[0]
        message = exc.message if field == exc.field else f"{exc.field}: {exc.message}"
        self.add_error(field if field in self.fields else None, message)
