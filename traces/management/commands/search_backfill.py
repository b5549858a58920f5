"""`agentops search_backfill`: search documents for runs stored before ingest kept them (traces.search_backfill).

Safe to run while agentops serves: a batch of runs a transaction, words merged with what ingest adds.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from traces.search_backfill import BATCH, backfill_documents


class Command(BaseCommand):
    help = "Build runs' search documents from their stored steps (for runs stored before migration 0014)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--after", type=int, default=0, help="start after this run id (resume)")
        parser.add_argument("--batch", type=int, default=BATCH, help=f"runs a transaction (default {BATCH})")

    def handle(self, *args: Any, after: int, batch: int, **options: Any) -> None:
        def progress(done: int, last: int) -> None:
            self.stdout.write(f"{done} runs' documents built; last run id {last}")

        done = backfill_documents(after=after, batch=batch, progress=progress)
        self.stdout.write(self.style.SUCCESS(f"done: {done} runs' search documents built"))
