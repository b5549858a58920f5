"""traces.partitions: the months a batch's steps need partitions for."""

from __future__ import annotations

from datetime import UTC, datetime

from traces.partitions import months_spanned


def ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_a_batch_within_one_month_needs_that_month():
    assert months_spanned([ns(2026, 3, 31, 23, 59), ns(2026, 3, 1), ns(2026, 3, 15)]) == {(2026, 3)}


def test_every_month_from_the_earliest_start_to_the_latest_whatever_the_order():
    starts = [ns(2027, 2, 1), ns(2026, 11, 30, 23, 59, 59)]
    assert months_spanned(starts) == {(2026, 11), (2026, 12), (2027, 1), (2027, 2)}
    assert months_spanned(reversed(starts)) == months_spanned(starts)


def test_no_steps_need_no_months():
    assert months_spanned([]) == set()


def test_starts_far_apart_need_only_their_own_months():
    # Walking every month between them created 683 partitions for a span at epoch + 1 ns beside one now.
    assert months_spanned([ns(2026, 12, 7), 1]) == {(2026, 12), (1970, 1)}
    assert months_spanned([ns(2026, 12, 7), (1 << 63) - 100, ns(2026, 11, 2)]) == {(2026, 12), (2262, 4), (2026, 11)}


def test_never_more_months_than_steps_when_far_apart_nor_than_two_years_when_walked():
    many = [ns(1990 + i, 6, 1) for i in range(30)]
    assert len(months_spanned(many)) == 30
    assert len(months_spanned([ns(2024, 1, 1), ns(2026, 1, 1)])) == 25
