from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "agentops.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        from agentops.tenancy import checks  # noqa: F401  (registers the system checks)
