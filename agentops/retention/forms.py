"""The forms of the retention settings page."""

from __future__ import annotations

from django import forms

from agentops.retention.policy import MAX_DAYS

_HELP = "Days; empty keeps them for ever."


def _days(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=MAX_DAYS, help_text=_HELP)


class PolicyForm(forms.Form):
    payload_days = _days("Payloads (inputs, outputs, tool arguments, previews)")
    step_days = _days("Steps")
    run_days = _days("Runs")


class ErasureForm(forms.Form):
    user_id = forms.CharField(label="End user id", max_length=200, help_text="As the runs name it (Run user).")
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        help_text="Why, for the audit log (e.g. the request's ticket number). Do not repeat personal data here.",
    )
    confirm = forms.BooleanField(label="I understand that every run of this user is deleted, pinned or not.")
