"""The physical floor of an execute: a bare Starlette app that parses the body, writes one durable row
and answers, with none of the project's code inside.

PostgreSQL: an asyncpg pool, one autocommit `INSERT` per request (the driver's own prepared-statement
cache, no transaction block, no pre-ping). SQLite: one aiosqlite connection in WAL mode with
`synchronous=NORMAL`, one autocommit `INSERT` per request. The row holds what an execution record must:
an id, the inputs, the outputs and a timestamp.

    DATABASE_URL=postgresql://... uvicorn bench.floor_app:create_floor_app --factory
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Insert = Callable[[uuid.UUID, str, str, datetime], Awaitable[None]]

_POSTGRES_TABLE = """CREATE TABLE IF NOT EXISTS floor_hits (
    id uuid PRIMARY KEY, inputs jsonb, outputs jsonb, created_at timestamptz NOT NULL)"""
_SQLITE_TABLE = """CREATE TABLE IF NOT EXISTS floor_hits (
    id BLOB PRIMARY KEY, inputs TEXT, outputs TEXT, created_at TEXT NOT NULL)"""


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[Insert]:
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=20, max_size=20)
    await pool.execute(_POSTGRES_TABLE)

    async def insert(row_id: uuid.UUID, inputs: str, outputs: str, created_at: datetime) -> None:
        await pool.execute(
            "INSERT INTO floor_hits (id, inputs, outputs, created_at) VALUES ($1, $2::jsonb, $3::jsonb, $4)",
            row_id,
            inputs,
            outputs,
            created_at,
        )

    try:
        yield insert
    finally:
        await pool.close()


@asynccontextmanager
async def _sqlite(path: str) -> AsyncIterator[Insert]:
    import aiosqlite

    connection = await aiosqlite.connect(path, isolation_level=None)
    await connection.execute("PRAGMA journal_mode=WAL")
    await connection.execute("PRAGMA synchronous=NORMAL")
    await connection.execute(_SQLITE_TABLE)

    async def insert(row_id: uuid.UUID, inputs: str, outputs: str, created_at: datetime) -> None:
        await connection.execute(
            "INSERT INTO floor_hits (id, inputs, outputs, created_at) VALUES (?, ?, ?, ?)",
            (row_id.bytes, inputs, outputs, created_at.isoformat()),
        )

    try:
        yield insert
    finally:
        await connection.close()


def _store(url: str) -> Any:
    if url.startswith("sqlite:///"):
        return _sqlite(url.removeprefix("sqlite:///"))
    return _postgres(url.replace("postgresql+psycopg://", "postgresql://"))


def create_floor_app() -> Starlette:
    url = os.environ["DATABASE_URL"]
    insert: Insert | None = None

    async def hit(request: Request) -> JSONResponse:
        payload = json.loads(await request.body())
        row_id = uuid.uuid4()
        encoded = json.dumps(payload)
        assert insert is not None
        await insert(row_id, encoded, encoded, datetime.now(UTC))
        return JSONResponse({"success": True, "outputs": payload, "id": str(row_id)})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal insert
        async with _store(url) as insert:
            yield

    return Starlette(routes=[Route("/floor", hit, methods=["POST"])], lifespan=lifespan)
