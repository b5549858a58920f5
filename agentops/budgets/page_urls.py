"""Pages of budgets (see agentops.budgets.views)."""

from django.urls import path

from agentops.budgets import views

_budgets = "p/<slug:slug>/budgets"

urlpatterns = [
    path(f"{_budgets}/", views.budgets_page, name="budgets"),
    path(f"{_budgets}/new/", views.budget_create, name="budget_create"),
    path(f"{_budgets}/<int:budget_id>/edit/", views.budget_edit, name="budget_edit"),
    path(f"{_budgets}/<int:budget_id>/delete/", views.budget_delete, name="budget_delete"),
    path(f"{_budgets}/<int:budget_id>/raise/", views.budget_raise, name="budget_raise"),
]
