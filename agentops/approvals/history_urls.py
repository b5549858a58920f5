"""Pages of decided approvals: the history with its figures, and the project's approval settings (see
agentops.approvals.history_views and settings_views)."""

from django.urls import path

from agentops.approvals import history_views, settings_views

_approvals = "p/<slug:slug>/approvals"

urlpatterns = [
    path(f"{_approvals}/history/", history_views.approval_history, name="approval_history"),
    path(f"{_approvals}/settings/", settings_views.approval_settings, name="approval_settings"),
]
