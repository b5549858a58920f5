from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "agentops.alerts"
    label = "alerts"
    verbose_name = "Alerts and canary verdicts"
