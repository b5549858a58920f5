"""The budgets page.

GET  /p/<slug>/budgets/                     every budget of the project: scope, window and time zone,
                                            limit, soft percents, hard; spent, held, remaining, reset
                                            time; a history chart; and a form to request a raise
GET/POST /p/<slug>/budgets/new/             create (Admin)
GET/POST /p/<slug>/budgets/<id>/edit/       change (Admin)
POST /p/<slug>/budgets/<id>/delete/         delete (Admin)
GET/POST /p/<slug>/budgets/<id>/raise/      request a raise of the hard limit: an approval request in
                                            the inbox (agentops.budgets.raise_requests)

Who: anyone who may view the project reads the page, as they read the dashboards' cost (a budget holds
no payload), and may ask for a raise: asking changes nothing, and the request is decided by a reviewer
in the inbox, never by its creator. Creating, changing and deleting are Admin's, as in the budgets API:
a budget stops agents. The project comes from the tenancy chokepoint (`project_view`): an outsider gets
404 from every URL, and another project's budget id is 404. Every write goes through
agentops.budgets.services; what it refuses shows beside its field (400), nothing is stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import json_script

from agentops.budgets import charts, history, raise_requests, selectors, services
from agentops.budgets.errors import BudgetError
from agentops.budgets.forms import BudgetForm, RaiseForm
from agentops.budgets.models import Budget
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project, User
from agentops.tenancy.roles import Perm


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # project_view let only a logged-in person through
    return user


def _budget(project: Project, budget_id: int) -> Budget:
    budget = selectors.budget_in_project(project, budget_id)
    if budget is None:
        raise Http404("No such budget")
    return budget


def _card(budget: Budget, now: Any) -> dict[str, Any]:
    state = selectors.budget_state(budget, now)
    points = history.budget_history(budget, now)
    figure = charts.history_figure(budget, points)
    return {
        "budget": budget,
        "state": state,
        "scope": _card_scope(budget),
        "percent": float(100 * state.used_usd / budget.limit_usd) if budget.limit_usd else 0.0,
        "chart": json_script(figure, f"figure-budget-{budget.pk}"),
    }


@project_view(Perm.VIEW_PROJECT)
def budgets_page(request: HttpRequest, project: Project) -> HttpResponse:
    now = timezone.now()
    context = {
        "tab": "budgets",
        "cards": [_card(b, now) for b in selectors.budgets_of_project(project)],
        "admin": Perm.ADMIN_PROJECT in project_perms(request, project),
    }
    return render_project(request, project, "budgets/budgets.html", context)


def _editor(
    request: HttpRequest, project: Project, form: BudgetForm, budget: Budget | None, status: int = 200
) -> HttpResponse:
    context = {"tab": "budgets", "form": form, "budget": budget}
    return render_project(request, project, "budgets/budget_edit.html", context, status=status)


def _save(request: HttpRequest, project: Project, form: BudgetForm, budget: Budget | None) -> HttpResponse:
    if form.is_valid():
        try:
            if budget is None:
                budget = services.budget_create(project=project, data=form.budget_data(), user=_user(request))
            else:
                budget = services.budget_update(budget=budget, data=form.budget_data(), user=_user(request))
        except BudgetError as error:
            form.add_budget_error(error)
        else:
            messages.success(request, f"Budget #{budget.pk} saved.")
            return redirect("budgets", slug=project.slug)
    return _editor(request, project, form, budget, status=400)


@project_view(Perm.ADMIN_PROJECT, methods=["GET", "POST"])
def budget_create(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method == "POST":
        return _save(request, project, BudgetForm(request.POST), None)
    return _editor(request, project, BudgetForm(), None)


@project_view(Perm.ADMIN_PROJECT, methods=["GET", "POST"])
def budget_edit(request: HttpRequest, project: Project, budget_id: int) -> HttpResponse:
    budget = _budget(project, budget_id)
    if request.method == "POST":
        return _save(request, project, BudgetForm(request.POST), budget)
    return _editor(request, project, BudgetForm(initial=BudgetForm.initial_for(budget)), budget)


@project_view(Perm.ADMIN_PROJECT, methods=["POST"])
def budget_delete(request: HttpRequest, project: Project, budget_id: int) -> HttpResponse:
    budget = _budget(project, budget_id)
    services.budget_delete(budget=budget, user=_user(request))
    messages.success(request, f"Budget #{budget_id} deleted.")
    return redirect("budgets", slug=project.slug)


def _raise_page(
    request: HttpRequest, project: Project, budget: Budget, form: RaiseForm, status: int = 200
) -> HttpResponse:
    context = {"tab": "budgets", "form": form, "budget": budget, "scope": _card_scope(budget)}
    return render_project(request, project, "budgets/raise.html", context, status=status)


def _card_scope(budget: Budget) -> str:
    return ", ".join(f"{k} {v}" for k, v in budget.scope.items()) or "the project"


@project_view(Perm.VIEW_PROJECT, methods=["GET", "POST"])
def budget_raise(request: HttpRequest, project: Project, budget_id: int) -> HttpResponse:
    budget = _budget(project, budget_id)
    if request.method != "POST":
        return _raise_page(request, project, budget, RaiseForm())
    form = RaiseForm(request.POST)
    if form.is_valid():
        try:
            approval = raise_requests.raise_request_create(
                budget=budget,
                user=_user(request),
                to_usd=str(form.cleaned_data["to_usd"]),
                reason=form.cleaned_data["reason"],
            )
        except BudgetError as error:
            form.add_raise_error(error)
        else:
            url = reverse("approval_detail", kwargs={"slug": project.slug, "approval_id": approval.pk})
            messages.success(request, f"Raise requested: approval request #{approval.pk} waits in the inbox.")
            return redirect(url)
    return _raise_page(request, project, budget, form, status=400)
