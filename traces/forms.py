"""Forms of the project's ingest settings page: they parse input; traces.services validates and writes.

Patterns are checked once, by the service, with the same code ingest uses to load them, so the page
cannot accept a pattern that ingest would refuse.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.forms.boundfield import BoundWidget

from traces.ingest.redact import API_KEY, BUILTIN_RULES, CARD, EMAIL
from traces.models import IngestPolicy

# What each built-in rule replaces, in the words the page shows. Every rule of BUILTIN_RULES needs one:
# a rule without one fails the page (and its test) rather than showing a checkbox nobody can judge.
BUILTIN_RULE_HELP: dict[str, tuple[str, str]] = {
    EMAIL: ("E-mail addresses", "name@example.com becomes [REDACTED:email]."),
    CARD: (
        "Payment card numbers",
        "13 to 19 digits, written together or in groups with spaces or dashes, that pass the Luhn check, "
        "become [REDACTED:card]. Order numbers, phone numbers and timestamps stay readable.",
    ),
    API_KEY: (
        "API keys and tokens",
        "OpenAI and Anthropic keys (sk-…), AWS access key ids, GitHub and Slack tokens, and the token "
        "after 'Bearer ' become [REDACTED:api_key].",
    ),
}


def _price(label: str, *, required: bool = True) -> forms.DecimalField:
    # The model's column: 14 digits, 6 of them decimals, in USD per million tokens.
    # A text input (styled like the others) that brings up a numeric keypad; the field checks the number.
    widget = forms.TextInput(attrs={"placeholder": "USD", "inputmode": "decimal", "autocomplete": "off"})
    return forms.DecimalField(
        label=label, required=required, max_digits=14, decimal_places=6, min_value=Decimal(0), widget=widget
    )


class IngestPolicyForm(forms.Form):
    builtin = forms.MultipleChoiceField(
        choices=[(rule, BUILTIN_RULE_HELP[rule][0]) for rule in sorted(BUILTIN_RULES)],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Built-in rules",
    )
    custom = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60, "spellcheck": "false", "class": "mono"}),
        required=False,
        label="Custom patterns",
        help_text=(
            "One regular expression per line (RE2 syntax: no lookaround or backreferences, so that no "
            "pattern can stall ingest); each match becomes [REDACTED:custom]. Spaces at the ends of a line "
            r"are ignored (write \s to mean one)."
        ),
    )
    drop_content = forms.BooleanField(required=False, label="Drop message content")

    @classmethod
    def for_policy(cls, policy: IngestPolicy) -> IngestPolicyForm:
        return cls(
            initial={
                "builtin": list(policy.builtin_redactions),
                "custom": "\n".join(policy.custom_patterns),
                "drop_content": policy.drop_content,
            }
        )

    def rule_boxes(self) -> list[tuple[BoundWidget, str]]:
        """Each built-in rule's checkbox with what it does, for the page to show side by side."""
        return [(box, BUILTIN_RULE_HELP[box.data["value"]][1]) for box in self["builtin"]]

    def clean_custom(self) -> list[str]:
        return [line.strip() for line in str(self.cleaned_data["custom"]).splitlines() if line.strip()]


class PriceOverrideForm(forms.Form):
    model = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "gpt-4o", "spellcheck": "false"}),
    )
    input_per_mtok = _price("Input")
    output_per_mtok = _price("Output")
    cache_read_per_mtok = _price("Cache read", required=False)
    cache_write_per_mtok = _price("Cache write", required=False)
