"""What every export and report shares: a spreadsheet-safe cell, and a moment read from a query string.

CSV is opened in spreadsheets, and what end users typed reaches it (agent names, customers, arguments):
a cell a spreadsheet would take for a formula (it starts with = + - @, a tab or a carriage return) is
prefixed with a quote `'`, which the spreadsheet shows as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.utils.dateparse import parse_date, parse_datetime

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def moment(raw: str) -> datetime | None:
    """An ISO 8601 date-time, or a date (its midnight), UTC unless it says; None when it is neither."""
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw)
            value = datetime.combine(day, time.min) if day else None
    except ValueError:  # well formed but no such day: 2026-02-30
        value = None
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
