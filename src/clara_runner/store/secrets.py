"""The server's own generated secrets: one row per name, written once, whichever replica comes first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.tables import server_secrets


async def kept_or_new(conn: AsyncConnection, name: str, candidate: str, now: datetime) -> tuple[str, bool]:
    """The secret stored under `name`, storing `candidate` first if there is none; and whether it was new.

    Replicas starting together all offer a candidate; the insert keeps the first and the read returns it
    to every one of them."""
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = await conn.execute(
        dialect.insert(server_secrets)
        .values(name=name, value=candidate, created_at=now)
        .on_conflict_do_nothing()
        .returning(server_secrets.c.name)
    )
    created = inserted.first() is not None
    stored: str = (await conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name))).scalar_one()
    return stored, created
