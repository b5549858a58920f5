"""The agents' approvals API, included at /api/v1/approvals/ (see agentops.approvals.api)."""

from django.urls import path

from agentops.approvals import api

urlpatterns = [
    path("", api.ApprovalCreate.as_view(), name="api_approvals"),
    path("<int:approval_id>/", api.ApprovalDetail.as_view(), name="api_approval"),
    path("<int:approval_id>/cancel/", api.ApprovalCancel.as_view(), name="api_approval_cancel"),
]
