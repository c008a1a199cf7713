"""The time range and bucket size a statistics request asks for: `from`, `to` and `bucket`, checked.

Times are ISO 8601 with a zone (or a bare date, midnight UTC); buckets are hours or days in UTC. The
range is the runs that started at or after `from` and before `to`; the first and last bucket may cover
part of their hour or day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from clara_runner.errors import ValidationFailed

Bucket = Literal["hour", "day"]
BUCKETS: tuple[Bucket, ...] = ("hour", "day")
BUCKET_LENGTH: dict[Bucket, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
DEFAULT_SPAN: dict[Bucket, timedelta] = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
"""The range when `from` is omitted: the last day by the hour, the last 30 days by the day."""
MAX_BUCKETS = 1000
"""The most buckets one answer holds (41 days by the hour, 2.7 years by the day)."""


def bucket_start(moment: datetime, bucket: Bucket) -> datetime:
    """The start (UTC) of the hour or day `moment` falls in."""
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == "day" else moment


@dataclass(frozen=True, slots=True)
class StatsWindow:
    start: datetime
    end: datetime
    bucket: Bucket

    @classmethod
    def parse(cls, start: str | None, end: str | None, bucket: str | None, now: datetime) -> StatsWindow:
        problems: list[str] = []
        size: Bucket = "hour"
        if bucket is not None:
            if bucket in BUCKETS:
                size = "day" if bucket == "day" else "hour"
            else:
                problems.append("bucket must be hour or day")
        until = _moment(end, "to", problems) or now
        since = _moment(start, "from", problems) or until - DEFAULT_SPAN[size]
        if not problems:
            if since >= until:
                problems.append("from must be earlier than to")
            elif cls(since, until, size).bucket_count() > MAX_BUCKETS:
                problems.append(f"the range holds more than {MAX_BUCKETS} {size}s: narrow it or use a larger bucket")
        if problems:
            raise ValidationFailed(problems)
        return cls(since, until, size)

    def bucket_starts(self) -> list[datetime]:
        """Every bucket the range touches, oldest first."""
        step = BUCKET_LENGTH[self.bucket]
        first = bucket_start(self.start, self.bucket)
        return [first + step * index for index in range(self.bucket_count())]

    def bucket_count(self) -> int:
        first = bucket_start(self.start, self.bucket)
        return -(-(self.end - first) // BUCKET_LENGTH[self.bucket])


def _moment(value: str | None, name: str, problems: list[str]) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        problems.append(
            f"{name} must be an ISO 8601 date and time with a zone (2026-12-01T00:00:00Z) or a date (2026-12-01)"
        )
        return None
    return moment.astimezone(UTC)
