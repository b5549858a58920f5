"""The channels page's create form. It only parses; the checks are the service's (ChannelError)."""

from __future__ import annotations

from django import forms

from agentops.notify.models import USER_KINDS


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=USER_KINDS)
    name = forms.CharField(max_length=200, required=False, help_text="Optional: made from the destination.")
    url = forms.CharField(
        label="URL", max_length=2000, required=False, help_text="Webhook and Slack: where to POST (http or https)."
    )
    secret = forms.CharField(
        max_length=200,
        required=False,
        help_text="Webhook: the signing secret, 16+ characters. Leave empty and one is made for you.",
    )
    recipients = forms.CharField(
        max_length=5000, required=False, help_text="E-mail: addresses, separated by commas or spaces."
    )
