"""The run list's time range presets (traces.filters.date_presets): UTC days, ranges as of now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from traces.filters import date_presets


def test_presets_are_utc_ranges_as_of_now():
    # 01:30 at UTC+2 is 23:30 the day before in UTC: "today" is the UTC day.
    now = datetime(2026, 12, 7, 1, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))
    presets = {p.label: (p.start_from, p.start_to) for p in date_presets(now)}
    utc = datetime(2026, 12, 6, 23, 30, 15, tzinfo=UTC)
    midnight = datetime(2026, 12, 6, tzinfo=UTC)
    assert presets == {
        "Last hour": (utc - timedelta(hours=1), None),
        "Today": (midnight, None),
        "Yesterday": (midnight - timedelta(days=1), midnight),
        "Last 7 days": (utc - timedelta(days=7), None),
    }
