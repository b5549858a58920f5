"""Forms of the tenancy pages: they parse and validate input; the services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from agentops.tenancy import selectors
from agentops.tenancy.models import Project, User
from agentops.tenancy.roles import ROLE_CHOICES, Role


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form; its "username" field holds the e-mail address, stored lower-cased."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)

    @property
    def cleaned_role(self) -> Role:
        return Role(self.cleaned_data["role"])


class MemberAddForm(RoleForm):
    """Add an existing user to a project. Users are created by an operator, not invited from here."""

    email = forms.EmailField(label="E-mail address")
    field_order = ["email", "role"]

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.user: User | None = None

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip().lower()
        user = selectors.user_by_email(email)
        if user is None:
            raise forms.ValidationError(
                f"No user has the e-mail address {email}. Users must exist before they can be added: "
                f"an operator creates them with `agentops createuser {email}` (or in Django admin)."
            )
        if selectors.is_member(user, self.project):
            raise forms.ValidationError(f"{email} is a member already: change their role in the list instead.")
        self.user = user
        return email


class NameForm(forms.Form):
    """The optional name of a new ingest key or API token."""

    name = forms.CharField(
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "default"}),
        help_text="Say where it is used, e.g. 'prod support-bot'.",
    )
