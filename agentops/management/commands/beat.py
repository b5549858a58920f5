"""`agentops beat`: the Celery beat scheduler that enqueues agentops' periodic tasks.

Run exactly one per installation. The schedule is agentops.celery's; the file that remembers the last
run of each entry is CELERY_BEAT_SCHEDULE_FILENAME (in AGENTOPS_HOME by default). Runs until SIGTERM.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from agentops.celery import run_celery


class Command(BaseCommand):
    help = "Run Celery beat, the periodic task scheduler (run one per installation)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default=None, help="Celery log level (default: LOG_LEVEL)")
        parser.add_argument("--quiet", action="store_true", help="no start-up banner, only the log")

    def handle(self, *args: Any, loglevel: str | None, quiet: bool, **options: Any) -> None:
        run_celery(
            [
                *(["--quiet"] if quiet else []),
                "beat",
                f"--loglevel={loglevel or settings.LOG_LEVEL}",
                f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
            ]
        )
