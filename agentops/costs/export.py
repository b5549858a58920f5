"""A cost report as JSON or as CSV for chargeback, streamed.

Every group value (a customer id, an agent or bundle name) comes from an agent's spans, so from its end
users: in CSV a cell a spreadsheet would take for a formula (it starts with = + - @, a tab or a
carriage return) is prefixed with a quote `'` (OWASP's advice, as agentops.tenancy.audit_export does);
quotes and newlines are quoted by the csv module. Costs are written as exact decimals in CSV, as numbers
(float) in JSON like every other amount of the API.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from agentops.costs.query import CostQuery
from agentops.costs.selectors import CostRow
from agentops.exports import spreadsheet_safe

_FLUSH_BYTES = 32_768
NUMBERS = ("runs", "input_tokens", "output_tokens", "cost_usd")


def guarded(text: str) -> str:
    return spreadsheet_safe(text)


def row_dict(row: CostRow) -> dict[str, Any]:
    return {
        **row.group,
        "runs": row.runs,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cost_usd": float(row.cost_usd),
    }


def csv_lines(query: CostQuery, rows: Iterable[CostRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*query.by, "from", "to", *NUMBERS])
    period = [query.start.isoformat(), query.end.isoformat()]
    for row in rows:
        cells = [guarded(row.group[name]) for name in query.by]
        writer.writerow([*cells, *period, row.runs, row.input_tokens, row.output_tokens, f"{row.cost_usd:f}"])
        if buffer.tell() > _FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
