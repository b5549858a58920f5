"""Writes for traces: storing a decoded OTLP batch for a project."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from traces.ingest.normalize import normalize_batch
from traces.ingest.rows import ProjectConfig, stage
from traces.ingest.spans import DecodedBatch
from traces.ingest.store import store_rows
from traces.partitions import ensure_months, month_of_ns


@dataclass(frozen=True)
class IngestResult:
    received: int  # spans in the request, valid or not
    stored: int  # new steps (a retried span is not stored again)
    runs: int  # runs created or updated
    rejected: list[str]  # one reason per rejected span, in request order as far as known

    @property
    def rejection_message(self) -> str:
        if not self.rejected:
            return ""
        count = len(self.rejected)
        return f"{count} span{'s' if count != 1 else ''} rejected; first: {self.rejected[0]}"


def ingest_batch(*, config: ProjectConfig, batch: DecodedBatch) -> IngestResult:
    """Normalize, price, redact and store a batch in one transaction; committed when this returns."""
    staged = stage(normalize_batch(batch.spans), config)
    # Before the batch's transaction: creating a partition locks the whole table until commit.
    ensure_months({month_of_ns(ns) for ns in staged.start_ns})
    with transaction.atomic():
        result = store_rows(staged.rows)
    return IngestResult(
        received=len(batch.spans) + len(batch.rejections),
        stored=result.steps_inserted,
        runs=result.runs_touched,
        rejected=[r.reason for r in batch.rejections] + staged.rejected,
    )
