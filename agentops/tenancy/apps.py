from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "agentops.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"
