"""The alert rules and alerts API, included under /api/v1/projects/<slug>/ (see agentops.alerts.api)."""

from django.urls import path

from agentops.alerts import api

urlpatterns = [
    path("alert-rules/", api.RuleList.as_view(), name="api_alert_rules"),
    path("alert-rules/<int:rule_id>/", api.RuleDetail.as_view(), name="api_alert_rule"),
    path("alerts/", api.AlertList.as_view(), name="api_alerts"),
    path("alerts/<int:alert_id>/", api.AlertDetail.as_view(), name="api_alert"),
    path("alerts/<int:alert_id>/acknowledge/", api.AlertAcknowledge.as_view(), name="api_alert_acknowledge"),
    path("alerts/<int:alert_id>/mute/", api.AlertMute.as_view(), name="api_alert_mute"),
    path("alerts/<int:alert_id>/unmute/", api.AlertUnmute.as_view(), name="api_alert_unmute"),
]
