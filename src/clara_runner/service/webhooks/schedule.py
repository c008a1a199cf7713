"""When a failed delivery is tried again.

A delivery is first sent as soon as its run has ended. The schedule lists, in seconds, how long to wait
before each retry: after failed attempt N, retry N waits the Nth delay. When the last retry fails too,
the delivery is `failed` (a redelivery by API can still send it again). The default,
`5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h`, makes eight attempts over about 27.6 hours, so an endpoint
down for a day still gets every event.

Each wait is spread by up to a fifth either way (jitter): deliveries that failed together because their
receiver was down do not all come back at the same instant when it returns.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT = "5,300,1800,7200,18000,36000,36000"
JITTER = 0.2


def parse_schedule(text: str) -> tuple[float, ...]:
    """`"5,300"` -> (5.0, 300.0); `""` -> no retries. ValueError says what is wrong."""
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"a retry schedule is comma-separated seconds such as {DEFAULT!r}, not {text!r}") from exc
    if any(delay < 0 for delay in delays):
        raise ValueError(f"a retry schedule's delays cannot be negative: {text!r}")
    return delays


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    delays: Sequence[float]

    def next_attempt(self, attempts_made: int, now: datetime) -> datetime | None:
        """When to try again after `attempts_made` attempts, the last one failed; None once the schedule
        is spent."""
        if not 1 <= attempts_made <= len(self.delays):
            return None
        delay = self.delays[attempts_made - 1]
        return now + timedelta(seconds=delay * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311
