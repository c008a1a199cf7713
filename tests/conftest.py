"""Fixtures: a fresh database per test (SQLite by default, PostgreSQL when `CLARA_TEST_DATABASE_URL`
names one), the app in-process over ASGI, and the real server over HTTP."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from clara_runner.flow.context import HttpClients, default_http_clients
from clara_runner.server.app import create_app
from clara_runner.settings import Settings
from clara_runner.store.database import sync_database_url
from clara_runner.store.migrate import upgrade
from clara_runner.store.tables import metadata
from tests.fakes.fixtures import (
    anthropic_server,
    backend,
    clara_assistant,
    comfy,
    http_api,
    mcp_proxy,
    openai_server,
)
from tests.postgres_databases import ensure as ensure_test_database
from tests.support import (
    POSTGRES_URL,
    REMOTE_CLIENT,
    SHARED_SERVER_POSTGRES_URL,
    LiveServer,
    asgi_client,
    make_settings,
    on_postgres,
    server_env,
)

__all__ = ["anthropic_server", "backend", "clara_assistant", "comfy", "http_api", "mcp_proxy", "openai_server"]


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at the latest schema: a SQLite file to copy, or the PostgreSQL test database (under
    pytest-xdist, this worker's own, created on first use)."""
    if on_postgres():
        if os.environ.get("PYTEST_XDIST_WORKER"):
            ensure_test_database(POSTGRES_URL)
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    template = tmp_path_factory.mktemp("template") / "clara.db"
    upgrade(f"sqlite:///{template}")
    return str(template)


@pytest.fixture(scope="session")
def shared_server_template(migrated_template: str) -> str:
    """The database template of servers shared by a module's tests: on PostgreSQL a database of its own,
    because every test empties the tables of the first."""
    if on_postgres():
        ensure_test_database(SHARED_SERVER_POSTGRES_URL)
        upgrade(SHARED_SERVER_POSTGRES_URL)
        return SHARED_SERVER_POSTGRES_URL
    return migrated_template


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> str:
    """An empty database at the latest schema, private to this test."""
    return _empty_database(migrated_template, tmp_path)


@pytest.fixture(scope="module")
def module_database_url(shared_server_template: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database at the latest schema for a server the tests of one module share. Starting a server
    process costs seconds (far more on a loaded machine), so tests that need no fresh one share it, each
    deploying under its own name."""
    return _empty_database(shared_server_template, tmp_path_factory.mktemp("module"))


def _empty_database(template: str, directory: Path) -> str:
    """A copy of the SQLite `template` in `directory`, or the PostgreSQL database `template` emptied."""
    if on_postgres():
        # TRUNCATE, though DELETE costs a few ms where it costs about 0.25 s: its lock waits until every
        # connection the previous test left behind has let go, so no late write of that test lands in
        # this one's tables (a PostgreSQL pass hung once with DELETE; the cause was not found).
        engine = create_engine(sync_database_url(template))
        with engine.begin() as conn:
            names = ", ".join(table.name for table in reversed(metadata.sorted_tables))
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        engine.dispose()
        return template
    path = directory / "clara.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """A client on the server's own machine (management answers it when no admin key is set)."""
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def remote_client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """A client on another machine."""
    async with asgi_client(app, REMOTE_CLIENT) as http:
        yield http


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(server_env(database_url, tmp_path / "data")) as server:
        yield server


@pytest.fixture(scope="module")
def module_live_server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`clara-runner serve` shared by the tests of one module that need no fresh server: each deploys under
    its own name, or they share a deployment they only read or execute."""
    with LiveServer(server_env(module_database_url, tmp_path_factory.mktemp("server") / "data")) as server:
        yield server


@pytest.fixture
async def http_clients() -> AsyncIterator[HttpClients]:
    """The HTTP clients a run uses, as the server builds them."""
    clients = default_http_clients()
    yield clients
    await clients.aclose()
