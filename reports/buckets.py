"""Dwell histogram buckets: mergeable across hours, percentiles within one bucket.

Bucket i holds dwells in [BOUNDS[i-1], BOUNDS[i]) seconds (bucket 0 starts at 0,
the last one is open-ended). The bounds are finer where the targets are (minutes
to a couple of hours), so a percentile read from summed buckets is within one
bucket width of the exact value; the API and the page say "about".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MINUTE = 60
# Upper bounds in seconds; a final open bucket follows the last bound.
BOUNDS_SECONDS: tuple[int, ...] = tuple(
    m * MINUTE
    for m in (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 150, 180, 240, 360, 480, 720, 1440)
)
BUCKET_COUNT = len(BOUNDS_SECONDS) + 1


def bucket_index(seconds: float) -> int:
    for index, bound in enumerate(BOUNDS_SECONDS):
        if seconds < bound:
            return index
    return len(BOUNDS_SECONDS)


def bucket_range(index: int) -> tuple[float, float | None]:
    """[low, high) of a bucket in seconds; high None for the open last bucket."""
    low = 0 if index == 0 else BOUNDS_SECONDS[index - 1]
    high = BOUNDS_SECONDS[index] if index < len(BOUNDS_SECONDS) else None
    return float(low), None if high is None else float(high)


def buckets_empty() -> list[int]:
    return [0] * BUCKET_COUNT


def buckets_merge(into: list[int], other: Sequence[int] | None) -> list[int]:
    """Add `other` into `into` (in place; tolerant of shorter stored lists)."""
    if other:
        into[: len(other)] = [a + b for a, b in zip(into, other, strict=False)]
    return into


def buckets_of(dwells: Iterable[float]) -> list[int]:
    counts = buckets_empty()
    for seconds in dwells:
        counts[bucket_index(seconds)] += 1
    return counts


def buckets_percentile(counts: Sequence[int], fraction: float) -> float | None:
    """The `fraction` percentile (0..1) in seconds, interpolated inside its bucket.

    None when the histogram is empty. In the open last bucket the lower bound is
    returned (all that is known is "at least this long").
    """
    total = sum(counts)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(counts):
        if not count:
            continue
        if seen + count >= rank:
            low, high = bucket_range(index)
            if high is None:
                return low
            inside = max(0.0, rank - seen) / count
            return low + (high - low) * inside
        seen += count
    low, _high = bucket_range(len(counts) - 1)
    return low
