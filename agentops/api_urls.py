"""The REST API, version 1, mounted at /api/v1/. Each app adds its endpoints here.

Project-scoped endpoints go under `projects/<slug:slug>/...` and resolve the project through
`agentops.tenancy.access.project_for`, like the pages do.
"""

from django.urls import path

from agentops.tenancy import api as tenancy_api

urlpatterns = [
    path("projects/", tenancy_api.ProjectList.as_view(), name="api_projects"),
]
