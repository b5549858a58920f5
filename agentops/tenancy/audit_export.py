"""A project's audit log as JSON Lines or CSV, streamed oldest first in constant memory.

- `export_filters(params)` reads `format` (jsonl, the default, or csv), `since` and `until` (ISO 8601
  dates or times; a time without offset is UTC; `since` inclusive, `until` exclusive) from a query
  dict; raises `ExportError` naming the bad parameter.
- `export_lines(project, filters)` yields the export as text chunks: events are read in id batches
  (keyset, no OFFSET, no open cursor), so memory does not grow with the log.

Every value is hostile. JSON Lines escapes by construction. In CSV, a cell that a spreadsheet would
take for a formula (it starts with = + - @, a tab or a carriage return) is prefixed with a quote `'`
(OWASP's advice); quotes and newlines are quoted by the csv module. `before`/`after` are JSON text.
Each row carries `chain`, `prev_hash` and `hash`, so a kept export pins the chain's head.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import QueryDict

from agentops.exports import moment, spreadsheet_safe
from agentops.tenancy.models import AuditEvent, Project

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
FIELDS = [
    "id",
    "created_at",
    "chain",
    "actor_kind",
    "actor",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "prev_hash",
    "hash",
]
_BATCH = 500


class ExportError(ValueError):
    """A bad query parameter; the message names it."""


@dataclass(frozen=True)
class ExportFilters:
    format: str = "jsonl"
    since: datetime | None = None
    until: datetime | None = None


def _when(name: str, raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    found = moment(raw)
    if found is None:
        raise ExportError(f"{name}: not an ISO 8601 date or time")
    return found


def export_filters(params: QueryDict | dict[str, str]) -> ExportFilters:
    fmt = params.get("format") or "jsonl"
    if fmt not in FORMATS:
        raise ExportError(f"format: one of {', '.join(FORMATS)}")
    return ExportFilters(
        format=fmt, since=_when("since", params.get("since") or ""), until=_when("until", params.get("until") or "")
    )


def filtered_events(project: Project, filters: ExportFilters) -> Any:
    qs = AuditEvent.objects.filter(project=project)
    if filters.since:
        qs = qs.filter(created_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(created_at__lt=filters.until)
    return qs


def _rows(project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        batch = list(filtered_events(project, filters).filter(id__gt=after).order_by("id")[:_BATCH])
        for e in batch:
            yield {
                "id": e.id,
                "created_at": e.created_at.isoformat(),
                "chain": e.chain,
                "actor_kind": e.actor_kind,
                "actor": e.actor_label,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "target_label": e.target_label,
                "before": e.before,
                "after": e.after,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
        if len(batch) < _BATCH:
            return
        after = batch[-1].id


def _cell(value: Any) -> str:
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return spreadsheet_safe(text)


def export_lines(project: Project, filters: ExportFilters) -> Iterator[str]:
    if filters.format == "jsonl":
        for row in _rows(project, filters):
            yield json.dumps(row, ensure_ascii=False, default=str) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    for row in _rows(project, filters):
        writer.writerow([_cell(row[f]) if isinstance(row[f], str | dict | list) else row[f] for f in FIELDS])
        if buffer.tell() > 32_768:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
