"""Pages of the approval inbox: per project and across projects (see agentops.approvals.views)."""

from django.urls import path

from agentops.approvals import views

_approvals = "p/<slug:slug>/approvals"

urlpatterns = [
    path("approvals/", views.approvals_inbox_all, name="approvals_inbox_all"),
    path(f"{_approvals}/", views.approvals_inbox, name="approvals_inbox"),
    path(f"{_approvals}/<int:approval_id>/", views.approval_detail, name="approval_detail"),
    path(f"{_approvals}/<int:approval_id>/decide/", views.approval_decide, name="approval_decide"),
]
