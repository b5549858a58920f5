from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "agentops.retention"
    label = "retention"
    verbose_name = "Retention"

    def ready(self) -> None:
        from agentops.retention import signals  # noqa: F401  (a new project gets the default policy)
