"""Pages of the approval inbox: per project and across projects (see agentops.approvals.views)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
