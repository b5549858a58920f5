"""Pages of alerts: the alerts, one alert, and the rule list and editor (see agentops.alerts.views)."""

from django.urls import path

from agentops.alerts import views

_alerts = "p/<slug:slug>/alerts"

urlpatterns = [
    path(f"{_alerts}/", views.alerts, name="alerts"),
    path(f"{_alerts}/<int:alert_id>/", views.alert_detail, name="alert_detail"),
    path(f"{_alerts}/<int:alert_id>/acknowledge/", views.alert_acknowledge_view, name="alert_acknowledge"),
    path(f"{_alerts}/<int:alert_id>/mute/", views.alert_mute_view, name="alert_mute"),
    path(f"{_alerts}/<int:alert_id>/unmute/", views.alert_unmute_view, name="alert_unmute"),
    path(f"{_alerts}/rules/", views.alert_rules, name="alert_rules"),
    path(f"{_alerts}/rules/new/", views.alert_rule_create, name="alert_rule_create"),
    path(f"{_alerts}/rules/<int:rule_id>/", views.alert_rule_edit, name="alert_rule_edit"),
    path(f"{_alerts}/rules/<int:rule_id>/enabled/", views.alert_rule_enabled, name="alert_rule_enabled"),
    path(f"{_alerts}/rules/<int:rule_id>/delete/", views.alert_rule_delete, name="alert_rule_delete"),
]
