"""Fixtures of the server tests that need real HTTP: a server in the test's loop with a loopback model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from clara_runner.server.app import create_app
from tests.fakes.openai_server import FakeOpenAI
from tests.serving import serve_in_process
from tests.support import make_settings


@pytest.fixture
async def base_url(database_url: str, tmp_path: Path, openai_server: FakeOpenAI) -> AsyncIterator[str]:
    """A server whose `llm` nodes call the loopback model; a 1 s shutdown grace, so a test that leaves a
    run going does not hold its teardown for the default 30 s."""
    settings = make_settings(
        database_url,
        tmp_path / "data",
        OPENAI_API_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="sk-server-key-for-tests",
        RATE_LIMIT_MAX_REQUESTS=1000,
        SHUTDOWN_GRACE_SECONDS=1,
    )
    async with serve_in_process(create_app(settings)) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """httpx (not httpx2): the client httpx-sse reads streams with."""
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
