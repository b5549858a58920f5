"""Budget windows: calendar windows in a time zone across daylight-saving changes, and rolling ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agentops.budgets.windows import current_window, rolling_hours, valid_window, zone_or_none

BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def test_a_month_in_pacific_time_runs_from_local_midnight_of_the_first_to_the_next():
    # 3 March 2026, 05:00 UTC is still 2 March in Los Angeles (PST, UTC-8).
    window = current_window("month", LOS_ANGELES, datetime(2026, 3, 3, 5, 0, tzinfo=UTC))
    assert window.start.astimezone(UTC) == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # PST
    assert window.resets_at is not None
    assert window.resets_at.astimezone(UTC) == datetime(2026, 4, 1, 7, 0, tzinfo=UTC)  # PDT since 8 March
    # The month holds the change: one hour shorter than 31 days (in UTC: same-zone arithmetic is wall time).
    assert window.resets_at.astimezone(UTC) - window.start.astimezone(UTC) == timedelta(days=31) - timedelta(hours=1)


def test_the_first_hours_of_a_pacific_month_in_utc_belong_to_the_month_before():
    window = current_window("month", LOS_ANGELES, datetime(2026, 4, 1, 6, 59, tzinfo=UTC))
    assert window.start.astimezone(UTC) == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    window = current_window("month", LOS_ANGELES, datetime(2026, 4, 1, 7, 0, tzinfo=UTC))
    assert window.start.astimezone(UTC) == datetime(2026, 4, 1, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 29), 23), ((2026, 10, 25), 25), ((2026, 6, 15), 24)],
    ids=["spring-forward", "fall-back", "summer"],
)
def test_a_day_in_berlin_is_23_or_25_hours_on_a_daylight_saving_change(day, hours):
    year, month, date = day
    window = current_window("day", BERLIN, datetime(year, month, date, 12, 0, tzinfo=BERLIN))
    assert window.start == datetime(year, month, date, tzinfo=BERLIN)
    assert window.resets_at is not None
    assert (window.resets_at.astimezone(UTC) - window.start.astimezone(UTC)) == timedelta(hours=hours)


def test_a_week_starts_on_monday_local_midnight():
    sunday_night = datetime(2026, 3, 29, 21, 30, tzinfo=UTC)  # 23:30 in Berlin, Sunday
    window = current_window("week", BERLIN, sunday_night)
    assert window.start == datetime(2026, 3, 23, tzinfo=BERLIN)
    assert window.resets_at == datetime(2026, 3, 30, tzinfo=BERLIN)


def test_a_rolling_window_is_the_last_hours_and_never_resets_at_once():
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    window = current_window("rolling:36", BERLIN, now)
    assert window.start == now - timedelta(hours=36) and window.resets_at is None


@pytest.mark.parametrize("window", ["day", "week", "month", "rolling:1", "rolling:8784"])
def test_windows_accepted(window):
    assert valid_window(window)


@pytest.mark.parametrize("window", ["year", "rolling:0", "rolling:8785", "rolling:", "rolling:1.5", "Day", 3, None])
def test_windows_refused(window):
    assert not valid_window(window)
    if isinstance(window, str) and window.startswith("rolling"):
        assert rolling_hours(window) is None


def test_time_zones_are_iana_names():
    assert zone_or_none("America/Los_Angeles") == LOS_ANGELES
    for bad in ("Mars/Olympus", "", None, "../etc/passwd", 5):
        assert zone_or_none(bad) is None
