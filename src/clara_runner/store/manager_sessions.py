"""Queries on Deployment Manager sessions. A session is found by the hash of its token, never the token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.database import Database
from clara_runner.store.pruning import delete_in_batches
from clara_runner.store.tables import manager_sessions


@dataclass(frozen=True, slots=True)
class SessionRecord:
    token_hash: str
    csrf: str
    admin_fingerprint: str
    started_at: datetime
    expires_at: datetime


async def insert_session(conn: AsyncConnection, record: SessionRecord) -> None:
    await conn.execute(
        insert(manager_sessions).values(
            token_hash=record.token_hash,
            csrf=record.csrf,
            admin_fingerprint=record.admin_fingerprint,
            started_at=record.started_at,
            expires_at=record.expires_at,
        )
    )


async def find_session(conn: AsyncConnection, token_hash: str) -> SessionRecord | None:
    row = (
        (await conn.execute(select(manager_sessions).where(manager_sessions.c.token_hash == token_hash)))
        .mappings()
        .first()
    )
    return None if row is None else SessionRecord(**row)


async def extend_session(conn: AsyncConnection, token_hash: str, expires_at: datetime) -> None:
    await conn.execute(
        update(manager_sessions).where(manager_sessions.c.token_hash == token_hash).values(expires_at=expires_at)
    )


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(delete(manager_sessions).where(manager_sessions.c.token_hash == token_hash))


async def prune_sessions(database: Database, now: datetime) -> int:
    """Delete every session past its end; return how many."""
    return await delete_in_batches(database, manager_sessions, manager_sessions.c.expires_at <= now)
