"""The retention API, included at /api/v1/projects/<slug>/ (see agentops.retention.api)."""

from django.urls import path

from agentops.retention import api

urlpatterns = [
    path("retention/", api.RetentionSettings.as_view(), name="api_retention"),
    path("pins/", api.PinList.as_view(), name="api_pins"),
    path("erasures/", api.ErasureList.as_view(), name="api_erasures"),
]
