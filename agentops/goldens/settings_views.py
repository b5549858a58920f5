"""Settings pages of the goldens app: a golden set's gate, and the project's LLM judge.

GET  /p/<slug>/golden-sets/<name>/gate/   the set's gate: task success, p95 latency, cost per run, and
POST                                      accuracy per assertion type; the gate an eval run of the set
                                          uses when its request (a CI config's [gate] table) names none.
                                          Engineers and above ("manage golden sets"); audited.
GET  /p/<slug>/settings/judge/            the OpenAI-compatible endpoint of `llm_judge` assertions: base
POST                                      URL, model, API key (write-only: never shown, blank keeps it),
                                          timeout. `test` sends one tiny judge call with the saved
                                          settings and shows what came back. Admins only; audited
                                          without the key.

Anyone else, and another tenant, gets 404 whatever the method. A bad value answers 400 with the page and
the message beside its field, and saves nothing; a save redirects to the page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from agentops.goldens import gate_settings, judge_settings, selectors
from agentops.goldens.gate import GateConfigError
from agentops.goldens.models import GoldenSet
from agentops.goldens.page_nav import GOLDENS_TAB
from agentops.goldens.validation import GoldenError
from agentops.pages import project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm


class GateForm(forms.Form):
    """Parses the page's fields into a gate dict; agentops.goldens.gate.clean_gate judges the values."""

    task_success = forms.FloatField(
        required=False, label="Task success (0 to 1)", help_text="Share of cases that must pass. Blank: every case."
    )
    p95_latency_ms = forms.FloatField(required=False, label="p95 latency (ms)", help_text="Blank: no limit.")
    cost_per_run_usd = forms.FloatField(required=False, label="Mean cost per run (USD)", help_text="Blank: no limit.")
    accuracy = forms.CharField(
        required=False,
        label="Accuracy per assertion type",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "tools_called = 0.92"}),
        help_text="One per line: assertion type = share of its outcomes that must pass (0 to 1).",
    )

    def clean_accuracy(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for n, line in enumerate(self.cleaned_data["accuracy"].splitlines(), start=1):
            if not line.strip():
                continue
            kind, equals, share = line.partition("=")
            try:
                found[kind.strip()] = float(share)
            except ValueError:
                raise forms.ValidationError(
                    f"line {n}: write assertion type = share, e.g. tools_called = 0.92"
                ) from None
            if not equals:
                raise forms.ValidationError(f"line {n}: write assertion type = share")
        return found

    def gate(self) -> dict[str, Any]:
        data = self.cleaned_data
        gate: dict[str, Any] = {k: data[k] for k in ("task_success", "p95_latency_ms", "cost_per_run_usd")}
        gate = {k: v for k, v in gate.items() if v is not None}
        if data["accuracy"]:
            gate["accuracy"] = data["accuracy"]
        return gate


def _initial(gate: dict[str, Any]) -> dict[str, Any]:
    lines = "\n".join(f"{kind} = {share:g}" for kind, share in gate.get("accuracy", {}).items())
    return {**{k: gate.get(k) for k in ("task_success", "p95_latency_ms", "cost_per_run_usd")}, "accuracy": lines}


def _field_of(error_field: str) -> str | None:
    """The form field of clean_gate's error (`gate.accuracy.tools_called` -> accuracy)."""
    parts = error_field.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in GateForm.base_fields else None


def _golden_set(project: Project, set_name: str) -> GoldenSet:
    found = selectors.project_set(project, set_name)
    if found is None:
        raise Http404("No such golden set in this project")
    return found


@project_view(Perm.MANAGE_GOLDENS, methods=["GET", "POST"])
def golden_set_gate(request: HttpRequest, project: Project, set_name: str) -> HttpResponse:
    golden_set = _golden_set(project, set_name)
    form = GateForm(request.POST) if request.method == "POST" else GateForm(initial=_initial(golden_set.gate))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                gate_settings.golden_set_gate_update(golden_set=golden_set, user=request.user, gate=form.gate())
            except (GoldenError, GateConfigError) as exc:
                form.add_error(_field_of(exc.field), exc.message)
            else:
                messages.success(request, "Gate saved. Eval runs of this set that name no gate use it from now on.")
                return redirect("golden_set_gate", slug=project.slug, set_name=golden_set.name)
        status = 400
    context = {"golden_set": golden_set, "form": form}
    return render_project(request, project, "goldens/gate.html", GOLDENS_TAB | context, status=status)


class JudgeForm(forms.Form):
    base_url = forms.CharField(
        max_length=500, label="Base URL", help_text="An OpenAI-compatible API, e.g. https://api.openai.com/v1"
    )
    model = forms.CharField(max_length=200, label="Model")
    api_key = forms.CharField(
        required=False,
        max_length=500,
        label="API key",
        # Never rendered back: the field is always empty on the page.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the key in use.",
    )
    clear_key = forms.BooleanField(required=False, label="Remove the stored key")
    timeout_seconds = forms.FloatField(label="Timeout (seconds)", initial=20.0)


def _judge_page(
    request: HttpRequest, project: Project, form: JudgeForm | None = None, status: int = 200, **extra: Any
) -> HttpResponse:
    config = judge_settings.judge_settings(project)
    if form is None:
        initial = (
            {"base_url": config.base_url, "model": config.model, "timeout_seconds": config.timeout_seconds}
            if config
            else None
        )
        form = JudgeForm(initial=initial)
    context = {"form": form, "config": config, "has_key": bool(config and config.api_key), **extra}
    return render_project(request, project, "goldens/judge_settings.html", GOLDENS_TAB | context, status=status)


@project_view(Perm.ADMIN_PROJECT, methods=["GET", "POST"])
def judge_settings_page(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method != "POST":
        return _judge_page(request, project)
    if "test" in request.POST:
        config = judge_settings.judge_settings(project)
        if config is None:
            return _judge_page(request, project, status=400, test_error="Save the judge's settings first.")
        return _judge_page(request, project, test=judge_settings.judge_test(config))
    form = JudgeForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            judge_settings.judge_settings_update(
                project=project,
                user=request.user,
                base_url=data["base_url"],
                model=data["model"],
                timeout_seconds=data["timeout_seconds"],
                api_key=data["api_key"],
                clear_key=data["clear_key"],
            )
        except judge_settings.JudgeSettingsError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Judge settings saved.")
            return redirect("judge_settings", slug=project.slug)
    return _judge_page(request, project, form, status=400)
