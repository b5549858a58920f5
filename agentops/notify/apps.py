from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "agentops.notify"
    label = "notify"
    verbose_name = "Notifications"
