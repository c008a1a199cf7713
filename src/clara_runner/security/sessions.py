"""Sign-in sessions of the Deployment Manager: their tokens, and when they end.

A session's token is 256 random bits carried by a cookie; the server keeps only its SHA-256, so a copy
of the database opens no session. A session ends `idle_seconds` after its last use, and in any case
`max_seconds` after it began; its use moves the end on at most once a minute (`REFRESH_SECONDS`), so
most requests write nothing. The admin key it was opened with is kept as a fingerprint (an HMAC under
the server secret): when the admin key changes, every session ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

REFRESH_SECONDS = 60
"""A session used again within this time of its last extension is not extended again."""
_FINGERPRINT_PURPOSE = b"clara-manager-admin-key\x00"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def admin_fingerprint(server_secret: bytes, admin_key: str) -> str:
    return hmac.new(server_secret, _FINGERPRINT_PURPOSE + admin_key.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionLifetime:
    idle_seconds: int
    max_seconds: int

    def end(self, started_at: datetime, now: datetime) -> datetime:
        """When a session begun at `started_at` and used at `now` ends unless used again."""
        return min(now + timedelta(seconds=self.idle_seconds), started_at + timedelta(seconds=self.max_seconds))

    def is_over(self, started_at: datetime, expires_at: datetime, now: datetime) -> bool:
        return now >= expires_at or now >= started_at + timedelta(seconds=self.max_seconds)

    def extension(self, started_at: datetime, expires_at: datetime, now: datetime) -> datetime | None:
        """The new end of a session used at `now`, or None when it was extended within `REFRESH_SECONDS`."""
        end = self.end(started_at, now)
        return end if end - expires_at >= timedelta(seconds=REFRESH_SECONDS) else None
