"""`agentops worker`: a Celery worker consuming agentops' queue (alerts, rollups, notifications, ...).

Takes --concurrency (default: the number of CPUs) and --loglevel. Runs until SIGTERM (warm shutdown:
running tasks finish). Needs the broker (CELERY_BROKER_URL, or the filesystem queue in AGENTOPS_HOME).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from agentops.celery import run_celery


class Command(BaseCommand):
    help = "Run a Celery worker (production worker process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, default=None, help="pool processes (default: CPUs)")
        parser.add_argument("--loglevel", default=None, help="Celery log level (default: LOG_LEVEL)")
        parser.add_argument("--quiet", action="store_true", help="no start-up banner, only the log")

    def handle(self, *args: Any, concurrency: int | None, loglevel: str | None, quiet: bool, **options: Any) -> None:
        argv = [*(["--quiet"] if quiet else []), "worker", f"--loglevel={loglevel or settings.LOG_LEVEL}"]
        if concurrency:
            argv.append(f"--concurrency={concurrency}")
        run_celery(argv)
