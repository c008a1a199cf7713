"""Duration histograms: every duration's bucket reports it within the stated error, and percentiles read
from bucket counts are within it of the exact nearest-rank ones."""

from __future__ import annotations

import math
import random

from clara_runner.store.histogram import RELATIVE_ERROR, bucket_of, percentiles, representative


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


def within_bound(found: int, exact: int) -> bool:
    return abs(found - exact) <= RELATIVE_ERROR * exact + 0.5


def test_every_duration_is_reported_within_one_percent_and_exactly_under_50_ms() -> None:
    generator = random.Random(3)
    durations = [*range(200_000), *(generator.randrange(200_000, 2**31) for _ in range(100_000))]
    for duration in durations:
        reported = representative(bucket_of(duration))
        assert within_bound(reported, duration), duration
        assert bucket_of(reported) == bucket_of(duration)
    assert all(representative(bucket_of(duration)) == duration for duration in range(50))
    assert RELATIVE_ERROR < 0.01
    assert bucket_of(2**31 - 1) < 1100


def test_buckets_are_ordered_like_durations() -> None:
    buckets = [bucket_of(duration) for duration in range(100_000)]
    assert buckets == sorted(buckets)


def test_percentiles_from_bucket_counts_are_within_the_bound_of_the_exact_ones() -> None:
    generator = random.Random(5)
    for size in (1, 2, 3, 10, 99, 1000, 20_000):
        durations = [int(generator.lognormvariate(6, 1.5)) for _ in range(size)]
        histogram: dict[int, int] = {}
        for duration in durations:
            histogram[bucket_of(duration)] = histogram.get(bucket_of(duration), 0) + 1
        found = percentiles(histogram, (50, 95, 99))
        assert found is not None
        for value, percent in zip(found, (50, 95, 99), strict=True):
            assert within_bound(value, nearest_rank(durations, percent)), (size, percent)
    assert percentiles({}, (50,)) is None
