from django.apps import AppConfig


class GoldensConfig(AppConfig):
    name = "agentops.goldens"
    label = "goldens"
    verbose_name = "Golden sets"
