"""`agentops web`: serve agentops (OTLP ingest, UI, API, health) with gunicorn.

Takes --host, --port, --workers and --threads; runs gunicorn in this process (it forks the workers) until
SIGTERM (graceful: requests in flight finish, up to 10 s) or SIGINT (quick). Exits non-zero when the
address cannot be bound or the workers cannot boot.

Each worker is asynchronous (agentops.server): slow and idle clients cost no thread, requests reach
Django's --threads threads only with their whole body, and the rest is shed with 503 and Retry-After.
`--server threads` serves with gunicorn's threaded workers instead (each connection takes a thread while
it is read), kept to measure the two against each other (bench/ingest.py --server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from gunicorn.app.base import BaseApplication

from agentops.celery import ensure_broker_folders


class AgentopsWSGI(BaseApplication):
    """gunicorn, configured from the command's options instead of gunicorn's own command line."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork (the app is not preloaded).
        from agentops.heap import warm_and_freeze

        application: Any
        if self.options["worker_class"] == ASYNC_WORKER:
            from agentops.server.app import build

            application = build(self.options["threads"])
        else:
            from agentops.wsgi import application as wsgi_application

            application = wsgi_application
        warm_and_freeze()
        return application


ASYNC_WORKER = "agentops.server.worker.AgentopsWorker"


def gunicorn_options(*, host: str, port: int, workers: int, threads: int, server: str = "async") -> dict[str, Any]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    worker_class = ASYNC_WORKER if server == "async" else "gthread" if threads > 1 else "sync"
    return {
        "bind": [bind],
        "workers": workers,
        "threads": threads,
        "worker_class": worker_class,
        # Below `agentops up`'s 15 s grace period, so a stop never ends in SIGKILL.
        "graceful_timeout": 10,
        "timeout": 60,
        "errorlog": "-",
        "loglevel": settings.LOG_LEVEL.lower(),
        "proc_name": "agentops-web",
        # gunicorn's control socket sits at one path per user: two servers side by side would fight.
        "control_socket_disable": True,
    }


class Command(BaseCommand):
    help = "Serve agentops over HTTP with gunicorn (production web process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
        parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
        parser.add_argument(
            "--server",
            choices=["async", "threads"],
            default="async",
            help="async (default): event-loop workers that shed load; threads: gunicorn's threaded workers",
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, threads: int, server: str, **options: Any) -> None:
        ensure_broker_folders()
        # whitenoise warns in every worker when STATIC_ROOT is missing, though with finders it needs none.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        AgentopsWSGI(gunicorn_options(host=host, port=port, workers=workers, threads=threads, server=server)).run()
