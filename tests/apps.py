"""Apps built with particular settings, and a test-only node type that holds a run until the test
lets it go (for backpressure and in-progress tests: no sleeps, the test decides when a run finishes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI

from clara_runner.flow.nodes import builtin_node_types
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.registry import build_registry
from clara_runner.runtime.services import Runtime
from clara_runner.server.app import create_app
from clara_runner.server.replies import render_execution
from clara_runner.settings import Settings
from tests.support import asgi_client, make_settings

GATED_WORKFLOW: dict[str, Any] = {
    "nodes": [
        {"id": "input-1", "type": "input", "data": {"label": "Name"}},
        {"id": "gate-1", "type": "test-gate", "data": {}},
        {"id": "output-1", "type": "output", "data": {"outputLabel": "Greeting"}},
    ],
    "connections": [
        {"source": "input-1", "target": "gate-1", "sourceHandle": "output", "targetHandle": "input"},
        {"source": "gate-1", "target": "output-1", "sourceHandle": "output", "targetHandle": "input"},
    ],
}


class GateNode(NodeType):
    """Passes its input through once `open()` was called; counts the runs waiting inside it."""

    type_name = "test-gate"
    title = "Test gate"
    inputs = (PortSpec("input", "Value"),)
    outputs = (PortSpec("output", "Value"),)

    def __init__(self) -> None:
        self.inside = 0
        self.entered = 0
        self._open = asyncio.Event()
        self._changed = asyncio.Condition()

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        async with self._changed:
            self.inside += 1
            self.entered += 1
            self._changed.notify_all()
        try:
            await self._open.wait()
        finally:
            self.inside -= 1
        return {"output": call.inputs.get("input")}

    async def wait_inside(self, count: int) -> None:
        """Return once `count` runs are waiting in the gate (fails the test after 10 s)."""
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: self.inside >= count)


def gated_app(settings: Settings) -> tuple[FastAPI, GateNode]:
    """An app whose registry knows the gate node, and the gate."""
    gate = GateNode()
    registry = build_registry([*builtin_node_types(), (gate, ())])
    return create_app(settings, Runtime.build(settings, registry, render=render_execution)), gate


async def wait_until(condition: Callable[[], bool]) -> None:
    """Return once `condition()` holds (fails the test after 10 s)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached within 10 s")


def runtime_of(app: FastAPI) -> Runtime:
    found: Runtime = app.state.runtime
    return found


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """A local client of `app`, with its lifespan running."""
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client


@asynccontextmanager
async def client_for(database_url: str, data_dir: Path, **settings: Any) -> AsyncIterator[httpx2.AsyncClient]:
    """A local client of an app with these settings (environment names, as in `make_settings`)."""
    async with serving(create_app(make_settings(database_url, data_dir, **settings))) as client:
        yield client
