"""The rollups' latency histogram: 8 buckets per doubling (each ~9% wide), and percentiles read from it
within a bucket of the exact ones. Shared by the refresh (traces.rollup_ledger), the whole-hour
recompute (traces.rollup_whole) and the dashboards' readers (through traces.rollups)."""

from __future__ import annotations

import math
from collections.abc import Mapping

BUCKETS_PER_DOUBLING = 8


def latency_bucket(ms: float) -> int:
    """The histogram bucket of a latency; the same formula as LATENCY_BUCKET_SQL below."""
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(max(ms, 0.01)))


def bucket_bounds(bucket: int) -> tuple[float, float]:
    return 2 ** (bucket / BUCKETS_PER_DOUBLING), 2 ** ((bucket + 1) / BUCKETS_PER_DOUBLING)


def _value_at(ordered: list[tuple[int, int]], rank: int) -> float:
    """An estimate of the rank-th smallest latency (0-based): spread evenly within its bucket."""
    seen = 0
    for bucket, count in ordered:
        if rank < seen + count:
            low, high = bucket_bounds(bucket)
            return low + (high - low) * (rank - seen + 0.5) / count
        seen += count
    raise ValueError("rank beyond the histogram")


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, interpolated between the two closest ranks as
    percentile_cont does; each rank's value is within its bucket (~9%) of the true one. None when empty."""
    total = sum(hist.values())
    if not total:
        return None
    ordered = sorted(hist.items())
    rank = q * (total - 1)
    below, above = math.floor(rank), math.ceil(rank)
    low = _value_at(ordered, below)
    return low + (rank - below) * (_value_at(ordered, above) - low)


# A run's latency bucket, for a traces_run aliased r that has an end.
LATENCY_BUCKET_SQL = f"""floor({BUCKETS_PER_DOUBLING} * log(2::numeric, greatest(
    (extract(epoch FROM (r.end_time - r.start_time)) * 1000)::numeric, 0.01)))::int"""
