"""Real HTTP without a child process: uvicorn serving an app object in the test's own event loop.

Used where a test needs both real HTTP and something only the test process has (node types that
exist only in tests, the tasks of the event loop to inspect afterwards).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from clara_runner.runtime.services import Runtime
from clara_runner.server.app import create_app
from clara_runner.server.replies import render_execution
from tests.nodes import registry_with_test_nodes
from tests.support import free_port, make_settings


def app_with_test_nodes(database_url: str, data_dir: Path, **settings: Any) -> FastAPI:
    """The app with the test node types registered."""
    configured = make_settings(database_url, data_dir, **settings)
    return create_app(configured, Runtime.build(configured, registry_with_test_nodes(), render=render_execution))


@asynccontextmanager
async def serve_in_process(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` over HTTP on 127.0.0.1 (lifespan included) and yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
