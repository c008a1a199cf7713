"""Helpers of the webhook tests: an app that may reach loopback receivers, with a short retry schedule and
a quick poll, and finished runs stored through the real execution writer."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI

from clara_runner.clock import utcnow
from clara_runner.runtime.services import Runtime
from clara_runner.server.app import create_app
from clara_runner.store.records import DeploymentRecord, ExecutionWrite
from tests.apps import runtime_of, serving
from tests.support import make_settings

LOOPBACK_ALLOWED = {"EGRESS_ALLOW_CIDRS": "127.0.0.0/8"}
QUICK = {"WEBHOOK_POLL_SECONDS": "0.05", "WEBHOOK_RETRY_SCHEDULE": "0.2,0.4", "WEBHOOK_TIMEOUT_SECONDS": "0.5"}


def webhook_app(database_url: str, data_dir: Path, **settings: str) -> FastAPI:
    return create_app(make_settings(database_url, data_dir, **{**LOOPBACK_ALLOWED, **QUICK, **settings}))


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[httpx2.AsyncClient, Runtime]]:
    async with serving(app) as client:
        yield client, runtime_of(app)


async def add_webhook(client: httpx2.AsyncClient, slug: str, url: str, events: list[str]) -> dict[str, Any]:
    response = await client.post(f"/api/workflows/{slug}/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    webhook: dict[str, Any] = response.json()["webhook"]
    return webhook


async def store_run(
    runtime: Runtime,
    deployment: DeploymentRecord,
    status: str = "success",
    outputs: Any = None,
    execution_id: uuid.UUID | None = None,
) -> ExecutionWrite:
    """A final execution row of `deployment`, stored by the process's execution writer, as the run core
    stores one."""
    finished = utcnow()
    failed = status != "success"
    row = ExecutionWrite(
        id=execution_id or uuid.uuid4(),
        deployment_id=deployment.id,
        version=deployment.current_version,
        api_key_id=None,
        status=status,
        inputs_json=json.dumps({"name": "Ada"}),
        outputs_json=None if failed else json.dumps(outputs if outputs is not None else {"greeting": "Ada"}),
        error_code="node_failed" if failed else None,
        error_message="The node failed" if failed else None,
        duration_ms=42,
        nodes_executed=2,
        trace_json=None,
        created_at=finished - timedelta(milliseconds=42),
        finished_at=finished,
        owner_id=None,
        first=True,
    )
    assert await runtime.writer.write(row)
    return row


async def deliveries(client: httpx2.AsyncClient, slug: str, webhook_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/workflows/{slug}/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def settled(client: httpx2.AsyncClient, slug: str, webhook_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The deliveries once `count` of them are succeeded or failed (fails the test after 20 s)."""
    async with asyncio.timeout(20):
        while True:
            found = await deliveries(client, slug, webhook_id)
            if sum(item["state"] in ("succeeded", "failed") for item in found) >= count:
                return found
            await asyncio.sleep(0.02)
