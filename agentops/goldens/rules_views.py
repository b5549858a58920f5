"""The sampling rules pages.

GET  /p/<slug>/golden-rules/                         the rules, with their pending items
GET  /p/<slug>/golden-rules/new/                     the editor for a new rule; POST creates it
GET  /p/<slug>/golden-rules/<golden_rule_id>/        the editor of a rule; POST saves it
POST /p/<slug>/golden-rules/<golden_rule_id>/enabled/  enable (enabled=1) or disable (enabled=0)
POST /p/<slug>/golden-rules/<golden_rule_id>/delete/   delete the rule with its queue

Viewers read the rules; writing them needs "manage golden sets" (Engineer and above), as in the API
(agentops.goldens.rules_api). The project comes from the tenancy chokepoint (`project_view`): another
tenant, or a member without the permission, gets 404 whatever the method; another project's rule id is
404 too. Plain forms, redirected after a change; a refused rule answers 400 with the editor and each
error beside its field.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from agentops.goldens import review_selectors, rules, selectors
from agentops.goldens.models import SamplingRule
from agentops.goldens.page_nav import GOLDENS_TAB
from agentops.goldens.rules_forms import RuleForm
from agentops.goldens.validation import GoldenError
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm


def _rule(project: Project, rule_id: int) -> SamplingRule:
    rule = review_selectors.project_rule(project, rule_id)
    if rule is None:
        raise Http404("No such sampling rule")
    return rule


def _set_names(project: Project) -> list[str]:
    return list(selectors.project_sets(project).values_list("name", flat=True))


@project_view(Perm.VIEW_PROJECT)
def golden_rules(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "rules": list(review_selectors.project_rules(project)),
        "manage": Perm.MANAGE_GOLDENS in project_perms(request, project),
        "pending": review_selectors.queue_counts(project)["pending"],
    }
    return render_project(request, project, "goldens/rules.html", GOLDENS_TAB | context)


def _editor(
    request: HttpRequest, project: Project, form: RuleForm, rule: SamplingRule | None, status: int = 200
) -> HttpResponse:
    return render_project(
        request, project, "goldens/rules_edit.html", GOLDENS_TAB | {"form": form, "rule": rule}, status=status
    )


def _save(request: HttpRequest, project: Project, rule: SamplingRule | None) -> HttpResponse:
    form = RuleForm(request.POST, set_names=_set_names(project))
    if form.is_valid():
        payloads = Perm.VIEW_PAYLOADS in project_perms(request, project)
        try:
            if rule is None:
                saved = rules.rule_create(project=project, user=request.user, data=form.rule_data(), payloads=payloads)
            else:
                saved = rules.rule_update(rule=rule, user=request.user, data=form.rule_data(), payloads=payloads)
        except GoldenError as exc:
            form.add_rule_error(exc)
        else:
            messages.success(request, f"Sampling rule {saved.name} saved.")
            return redirect("golden_rules", slug=project.slug)
    return _editor(request, project, form, rule, status=400)


@project_view(Perm.MANAGE_GOLDENS, methods=["GET", "POST"])
def golden_rule_create(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method == "POST":
        return _save(request, project, None)
    initial = {"sample_rate": "10", "filter": request.GET.get("filter", "status=error"), "enabled": True}
    return _editor(request, project, RuleForm(initial=initial, set_names=_set_names(project)), None)


@project_view(Perm.MANAGE_GOLDENS, methods=["GET", "POST"])
def golden_rule_edit(request: HttpRequest, project: Project, golden_rule_id: int) -> HttpResponse:
    rule = _rule(project, golden_rule_id)
    if request.method == "POST":
        return _save(request, project, rule)
    form = RuleForm(initial=RuleForm.initial_for(rule), set_names=_set_names(project))
    return _editor(request, project, form, rule)


@project_view(Perm.MANAGE_GOLDENS, methods=["POST"])
def golden_rule_enabled(request: HttpRequest, project: Project, golden_rule_id: int) -> HttpResponse:
    rule = _rule(project, golden_rule_id)
    enable = request.POST.get("enabled") == "1"
    rules.rule_update(rule=rule, user=request.user, data={"enabled": enable})
    messages.success(request, f"Sampling rule {rule.name} {'enabled' if enable else 'disabled'}.")
    return redirect("golden_rules", slug=project.slug)


@project_view(Perm.MANAGE_GOLDENS, methods=["POST"])
def golden_rule_delete(request: HttpRequest, project: Project, golden_rule_id: int) -> HttpResponse:
    rule = _rule(project, golden_rule_id)
    rules.rule_delete(rule=rule, user=request.user)
    messages.success(request, f"Sampling rule {rule.name} deleted.")
    return redirect("golden_rules", slug=project.slug)
