"""Deployment Manager sessions: open one (sign-in, or a loopback visit without an admin key), find the
live one a cookie names (moving its end on), close it (sign-out). Stored on the server, so signing out
or expiring ends a session everywhere at once, whatever copy of its cookie exists."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from clara_runner.clock import utcnow
from clara_runner.security.sessions import (
    SessionLifetime,
    admin_fingerprint,
    new_csrf_token,
    new_token,
    token_hash,
)
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.store import manager_sessions as session_queries
from clara_runner.store.database import Database
from clara_runner.store.manager_sessions import SessionRecord

MAX_TOKEN_LENGTH = 100
"""Longer cookie values are no token of ours: refused before hashing or a database read."""


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    """The token each change must carry (form field or header), bound to this session."""


class ManagerSessions:
    def __init__(self, database: Database, secret: ServerSecret, admin_key: str, lifetime: SessionLifetime) -> None:
        self._database = database
        self._secret = secret
        self._admin_key = admin_key
        self.lifetime = lifetime

    async def open(self) -> tuple[str, Session]:
        """A new session: its token (for the cookie, never stored) and the session."""
        token, now = new_token(), utcnow()
        record = SessionRecord(
            token_hash=token_hash(token),
            csrf=new_csrf_token(),
            admin_fingerprint=await self._fingerprint(),
            started_at=now,
            expires_at=self.lifetime.end(now, now),
        )
        async with self._database.write() as conn:
            await session_queries.insert_session(conn, record)
        return token, Session(record.csrf)

    async def resume(self, token: str | None) -> Session | None:
        """The live session `token` names, its end moved on; None when there is none (or it has ended)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        hashed, now = token_hash(token), utcnow()
        async with self._database.read() as conn:
            record = await session_queries.find_session(conn, hashed)
        if record is None:
            return None
        same_admin = hmac.compare_digest(record.admin_fingerprint, await self._fingerprint())
        if not same_admin or self.lifetime.is_over(record.started_at, record.expires_at, now):
            await self._delete(hashed)
            return None
        extended = self.lifetime.extension(record.started_at, record.expires_at, now)
        if extended is not None:
            async with self._database.write() as conn:
                await session_queries.extend_session(conn, hashed, extended)
        return Session(record.csrf)

    async def close(self, token: str | None) -> None:
        if token and len(token) <= MAX_TOKEN_LENGTH:
            await self._delete(token_hash(token))

    async def prune(self) -> int:
        """Delete the sessions that have ended (housekeeping)."""
        return await session_queries.prune_sessions(self._database, utcnow())

    async def _delete(self, hashed: str) -> None:
        async with self._database.write() as conn:
            await session_queries.delete_session(conn, hashed)

    async def _fingerprint(self) -> str:
        return admin_fingerprint(await self._secret.load(), self._admin_key)
