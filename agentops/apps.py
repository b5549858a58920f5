from django.apps import AppConfig


class AgentopsConfig(AppConfig):
    name = "agentops"
    verbose_name = "agentops"

    def ready(self) -> None:
        # The Celery app becomes the current one before any task is sent: `.delay()` from a web request
        # then goes to our broker, not to Celery's default.
        from agentops import celery  # noqa: F401
