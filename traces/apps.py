from django.apps import AppConfig
from django.db.backends.signals import connection_created


class TracesConfig(AppConfig):
    name = "traces"
    verbose_name = "Traces"

    def ready(self) -> None:
        from traces.fields import load_json_as_text

        connection_created.connect(load_json_as_text, dispatch_uid="traces.load_json_as_text")
