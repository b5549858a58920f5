"""Pages of decided approvals: the history and its figures (see agentops.approvals.history_views)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
