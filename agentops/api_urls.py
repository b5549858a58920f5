"""The REST API, version 1, mounted at /api/v1/. Each app adds its endpoints here.

Project-scoped endpoints go under `projects/<slug:slug>/...` and subclass
`agentops.tenancy.endpoints.ProjectAPIView`, which resolves the project through the tenancy chokepoint
(the tenancy guard refuses any other view there).
"""

from django.urls import include, path

from agentops.agents import api as agents_api
from agentops.alerts import api as alerts_api
from agentops.approvals import api as approvals_api
from agentops.approvals import settings_api as approvals_settings_api
from agentops.budgets import api as budgets_api
from agentops.budgets import caps_api
from agentops.costs import api as costs_api
from agentops.notify import api as notify_api
from agentops.tenancy import api as tenancy_api
from traces import api as traces_api

urlpatterns = [
    path("projects/", tenancy_api.ProjectList.as_view(), name="api_projects"),
    path("ingest-key/", tenancy_api.IngestKeyIdentity.as_view(), name="api_ingest_key"),
    path("projects/<slug:slug>/audit/", tenancy_api.AuditExport.as_view(), name="api_audit"),
    path("projects/<slug:slug>/runs/", traces_api.RunList.as_view(), name="api_runs"),
    path("projects/<slug:slug>/runs/<str:trace_id>/", traces_api.RunDetail.as_view(), name="api_run"),
    path(
        "projects/<slug:slug>/runs/<str:trace_id>/steps/<str:span_id>/",
        traces_api.StepDetail.as_view(),
        name="api_step",
    ),
    path("projects/<slug:slug>/bundles/", agents_api.BundleList.as_view(), name="api_bundles"),
    path("projects/<slug:slug>/bundles/<int:bundle_id>/", agents_api.BundleDetail.as_view(), name="api_bundle"),
    path("projects/<slug:slug>/canary/", alerts_api.CanaryVerdict.as_view(), name="api_canary"),
    path("projects/<slug:slug>/", include("agentops.alerts.api_urls")),
    path("projects/<slug:slug>/", include("agentops.goldens.api_urls")),
    path("projects/<slug:slug>/", include("agentops.goldens.rules_api_urls")),
    path("projects/<slug:slug>/", include("agentops.retention.api_urls")),
    path("approvals/", include("agentops.approvals.urls")),
    path("projects/<slug:slug>/approvals/", approvals_api.ProjectApprovalList.as_view(), name="api_project_approvals"),
    path(
        "projects/<slug:slug>/approvals/<int:approval_id>/decision/",
        approvals_api.ProjectApprovalDecision.as_view(),
        name="api_project_approval_decision",
    ),
    path(
        "projects/<slug:slug>/approvals/settings/",
        approvals_settings_api.ProjectApprovalSettings.as_view(),
        name="api_project_approval_settings",
    ),
    path("budgets/", include("agentops.budgets.urls")),
    path("projects/<slug:slug>/budgets/", budgets_api.BudgetList.as_view(), name="api_budgets"),
    path("projects/<slug:slug>/budgets/<int:budget_id>/", budgets_api.BudgetDetail.as_view(), name="api_budget"),
    path("projects/<slug:slug>/step-caps/", caps_api.StepCapList.as_view(), name="api_step_caps"),
    path("projects/<slug:slug>/step-caps/<int:cap_id>/", caps_api.StepCapDetail.as_view(), name="api_step_cap"),
    path("projects/<slug:slug>/costs/", costs_api.CostReport.as_view(), name="api_costs"),
    path("projects/<slug:slug>/channels/", notify_api.ChannelList.as_view(), name="api_channels"),
    path("projects/<slug:slug>/channels/<int:channel_id>/", notify_api.ChannelDetail.as_view(), name="api_channel"),
    path(
        "projects/<slug:slug>/channels/<int:channel_id>/test/",
        notify_api.ChannelTest.as_view(),
        name="api_channel_test",
    ),
    path(
        "projects/<slug:slug>/channels/<int:channel_id>/deliveries/",
        notify_api.ChannelDeliveries.as_view(),
        name="api_channel_deliveries",
    ),
]
