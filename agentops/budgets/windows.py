"""Budget windows: when the current window of a budget started and when it resets.

A calendar window (day, week starting Monday, month) runs from local midnight to local midnight in an
IANA time zone, each turned into an instant by zoneinfo: a day is 23 or 25 hours long on a
daylight-saving change, and a midnight that a change skips starts the day when the clocks jump (a
midnight that occurs twice starts it at the first). A rolling window ("rolling:<hours>") is the last
<hours> hours up to now; it never resets at once, so its `resets_at` is None.

Pure functions, no database. agentops.alerts.evaluation.budget draws its periods here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PERIODS = ("day", "week", "month")
MAX_ROLLING_HOURS = 24 * 366
_ROLLING = re.compile(r"^rolling:([1-9][0-9]{0,4})$")


def _period_first_day(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())  # Monday
    if period == "month":
        return day.replace(day=1)
    return day


def _next_first_day(first: date, period: str) -> date:
    if period == "week":
        return first + timedelta(days=7)
    if period == "month":
        return (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first + timedelta(days=1)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # fold=0: a skipped midnight takes the offset from before the change, which is the instant the
    # clocks jump; a repeated midnight its first occurrence. Round-tripping through UTC normalizes both.
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC).astimezone(zone)


def period_bounds(now: datetime, period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar period holding `now` in `zone`, as [start, end) instants (aware, in `zone`)."""
    first = _period_first_day(now.astimezone(zone).date(), period)
    return _local_midnight(first, zone), _local_midnight(_next_first_day(first, period), zone)


def rolling_hours(window: str) -> int | None:
    """The hours of a "rolling:<hours>" window (1 to MAX_ROLLING_HOURS); None for anything else."""
    match = _ROLLING.match(window)
    if match is None or int(match.group(1)) > MAX_ROLLING_HOURS:
        return None
    return int(match.group(1))


def valid_window(window: object) -> bool:
    return isinstance(window, str) and (window in PERIODS or rolling_hours(window) is not None)


def zone_or_none(name: object) -> ZoneInfo | None:
    """The IANA zone `name`, or None when zoneinfo does not know it (or it is no name at all)."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # aware; spend counts from here
    resets_at: datetime | None  # the next calendar start; None for a rolling window


def current_window(window: str, zone: ZoneInfo, now: datetime) -> Window:
    """The window of kind `window` (a PERIODS name or "rolling:<hours>") that holds `now`."""
    if window in PERIODS:
        start, end = period_bounds(now, window, zone)
        return Window(start, end)
    hours = rolling_hours(window)
    if hours is None:
        raise ValueError(f"not a budget window: {window!r}")
    return Window(now - timedelta(hours=hours), None)
