"""Time as the API shows it: UTC, ISO 8601 with milliseconds and a `Z`, as JavaScript prints it."""

from __future__ import annotations

import functools
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=256)
def iso_from_timestamp(seconds: float) -> str:
    """`time.time()` (what the engine stamps node starts with, cheaply) as the API shows time. Kept for
    the next call: a node's start is shown by its trace entry and, in a run someone may follow, by its
    `node.started` and `node.finished` events, the same stamp each time."""
    return iso(datetime.fromtimestamp(seconds, UTC)) or ""


def iso_now() -> str:
    return iso(utcnow()) or ""
