"""The range and buckets a statistics request asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clara_runner.errors import ValidationFailed
from clara_runner.service.stats.window import MAX_BUCKETS, StatsWindow

NOW = datetime(2026, 12, 6, 11, 39, 35, tzinfo=UTC)


def test_defaults_are_the_last_day_by_the_hour_or_the_last_30_days_by_the_day() -> None:
    hourly = StatsWindow.parse(None, None, None, NOW)
    assert (hourly.start, hourly.end, hourly.bucket) == (NOW - timedelta(hours=24), NOW, "hour")
    starts = hourly.bucket_starts()
    assert (len(starts), starts[0], starts[-1]) == (
        25,
        datetime(2026, 12, 5, 11, tzinfo=UTC),
        NOW.replace(minute=0, second=0),
    )
    daily = StatsWindow.parse(None, None, "day", NOW)
    assert daily.start == NOW - timedelta(days=30)
    assert daily.bucket_starts()[0] == datetime(2026, 11, 6, tzinfo=UTC)
    assert len(daily.bucket_starts()) == 31


def test_dates_and_zoned_times_are_accepted_and_a_range_on_bucket_boundaries_has_no_partial_bucket() -> None:
    window = StatsWindow.parse("2026-12-01", "2026-12-02T00:00:00+00:00", "hour", NOW)
    assert (window.start, window.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    assert len(window.bucket_starts()) == 24
    shifted = StatsWindow.parse("2026-12-01T02:30:00+02:00", "2026-12-01T01:00:00Z", None, NOW)
    assert shifted.start == datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert shifted.bucket_starts() == [datetime(2026, 12, 1, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("start", "end", "bucket", "problem"),
    [
        (None, None, "minute", "bucket must be hour or day"),
        ("2026-12-01T00:00:00", None, None, "from must be an ISO 8601 date and time with a zone"),
        (None, "soon", None, "to must be an ISO 8601 date and time with a zone"),
        ("2026-12-02", "2026-12-01", None, "from must be earlier than to"),
        ("2026-12-01", "2026-12-01", None, "from must be earlier than to"),
        ("2020-01-01", "2026-01-01", "day", f"the range holds more than {MAX_BUCKETS} days"),
    ],
)
def test_bad_parameters_are_each_reported(start: str | None, end: str | None, bucket: str | None, problem: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        StatsWindow.parse(start, end, bucket, NOW)
    assert refused.value.details["validationErrors"][0].startswith(problem)


def test_the_largest_range_is_accepted() -> None:
    window = StatsWindow.parse(None, "2026-12-01", "hour", NOW)
    longest = StatsWindow.parse((window.end - timedelta(hours=MAX_BUCKETS)).isoformat(), "2026-12-01", "hour", NOW)
    assert len(longest.bucket_starts()) == MAX_BUCKETS
