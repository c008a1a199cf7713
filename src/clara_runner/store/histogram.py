"""Duration histograms with log-spaced buckets, and nearest-rank percentiles read from their counts.

A duration of d ms (d >= 1) falls in bucket `1 + ceil(ln(d) / ln(GROWTH))`, the durations in
(GROWTH^(k-2), GROWTH^(k-1)]; 0 ms has bucket 0. Buckets are ordered like the durations they hold, so
the bucket whose running count first reaches a percentile's rank holds the exact nearest-rank value,
and the value reported for it (`representative`) differs from that value by at most `RELATIVE_ERROR`
of it plus half a millisecond of rounding: 1 %, and durations under 50 ms are exact (each of their
buckets holds one whole millisecond). About 1,000 buckets cover everything up to 24 days; a histogram
stores only the buckets that hold runs.

The same bucket is computed by Python (`bucket_of`) and, in the PostgreSQL writer, by SQL
(`BUCKET_SQL`, the same double-precision operations); a test checks that they agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TypeVar

K = TypeVar("K", int, str)

GROWTH = 1.02
"""Each bucket's upper bound over its lower one."""
RELATIVE_ERROR = (GROWTH - 1) / (GROWTH + 1)
"""The largest relative distance between a duration and its bucket's representative (0.99 %)."""
_LN_GROWTH = math.log(GROWTH)

BUCKET_SQL = (
    "CASE WHEN {d} IS NULL THEN NULL WHEN {d} < 1 THEN 0 "
    f"ELSE 1 + CAST(ceil(ln(CAST({{d}} AS double precision)) / CAST({_LN_GROWTH!r} AS double precision)) AS int) END"
)
"""`bucket_of` in PostgreSQL's SQL, formatted with the duration column as `d`."""


def bucket_of(duration_ms: int) -> int:
    return 0 if duration_ms < 1 else 1 + math.ceil(math.log(duration_ms) / _LN_GROWTH)


@cache
def representative(bucket: int) -> int:
    """The whole millisecond reported for a bucket: the one nearest the point whose relative distance to
    both ends of the bucket is the same, kept inside the bucket."""
    if bucket == 0:
        return 0
    value = max(1, round(2 * GROWTH ** (bucket - 1) / (GROWTH + 1)))
    while value > 1 and bucket_of(value) > bucket:
        value -= 1
    while bucket_of(value) < bucket:
        value += 1
    return value


def add(into: dict[K, int], counts: Mapping[K, int]) -> None:
    """Add a histogram's counts into another's (both keyed alike: bucket numbers, or their JSON keys)."""
    for bucket, runs in counts.items():
        into[bucket] = into.get(bucket, 0) + runs


def percentiles(histogram: Mapping[int, int], percents: Iterable[int]) -> tuple[int, ...] | None:
    """The nearest-rank percentiles (the smallest duration with at least p % of the runs at or below it),
    each as its bucket's representative; None for an empty histogram."""
    total = sum(histogram.values())
    if total == 0:
        return None
    ranks = [math.ceil(percent * total / 100) for percent in percents]
    found: list[int] = []
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        while len(found) < len(ranks) and seen >= ranks[len(found)]:
            found.append(representative(bucket))
    return tuple(found)
