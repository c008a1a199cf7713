"""The floor for the execute benchmark: a bare Starlette app that does the least an execute must do.

It parses the same JSON body and performs one INSERT per request into the same database, through
the same `Database` (same driver, pool and SQLite settings). Nothing else: no auth, no validation,
no engine, no routing framework beyond Starlette.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, MetaData, Table, Uuid, insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clara_runner.store.database import Database

floor_metadata = MetaData()
floor_hits = Table(
    "floor_hits",
    floor_metadata,
    Column("id", Uuid, primary_key=True),
    Column("payload", JSON),
    Column("created_at", DateTime(timezone=True)),
)


def create_floor_app() -> Starlette:
    database = Database(os.environ["DATABASE_URL"])

    async def hit(request: Request) -> JSONResponse:
        payload = json.loads(await request.body())
        row_id = uuid.uuid4()
        async with database.write() as conn:
            await conn.execute(insert(floor_hits).values(id=row_id, payload=payload, created_at=datetime.now(UTC)))
        return JSONResponse({"success": True, "outputs": payload, "id": str(row_id)})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with database.engine.begin() as conn:
            await conn.run_sync(floor_metadata.create_all)
        yield
        await database.close()

    return Starlette(routes=[Route("/floor", hit, methods=["POST"])], lifespan=lifespan)
