"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from clara_runner import __version__
from clara_runner.runtime.services import Runtime
from clara_runner.runtime.telemetry import logs_requests
from clara_runner.security.redaction import Redactor
from clara_runner.server import execute
from clara_runner.server.cors import cors_options
from clara_runner.server.errors import install_error_handlers
from clara_runner.server.fast_lane import PATH as FAST_PATHS
from clara_runner.server.fast_lane import fast_lane
from clara_runner.server.observe import RequestObserver
from clara_runner.server.openapi import ClaraApp, management_server
from clara_runner.server.pages import ASSETS
from clara_runner.server.replies import render_execution
from clara_runner.server.routes import (
    deployments,
    docs,
    executions,
    keys,
    metrics,
    stats,
    system,
    usage,
    versions,
    webhooks,
    workflows,
)
from clara_runner.server.signals import drain_first
from clara_runner.settings import Settings
from clara_runner.telemetry import tracing
from clara_runner.telemetry.exposition import process_exiting
from clara_runner.telemetry.logs import configure_logging
from clara_runner.web.install import install_manager

_VENDOR_ASSETS = Path(fastapi_offline.__file__).parent / "static"
_APP_ASSETS = Path(__file__).parent / "static"


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, *, drain_on_signals: bool = False
) -> ClaraApp:
    """An app for `settings` (read from the environment when omitted). With `drain_on_signals` (the
    server's own processes), SIGTERM and SIGINT drain the runs in flight first (`signals.py`)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, Redactor(settings.secret_values()), settings.log_format)
    if settings.otel_exporter_otlp_endpoint:
        tracing.install_otlp(
            settings.otel_exporter_otlp_endpoint,
            settings.otel_service_name,
            capture_content=settings.otel_capture_message_content,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = runtime or Runtime.build(settings, render=render_execution)
        app.state.runtime = state
        await state.start()
        try:
            with _startup_heap_frozen(), drain_first(state.drain) if drain_on_signals else nullcontext():
                yield
        finally:
            await state.stop()
            process_exiting()
            tracing.shutdown()

    cors = cors_options(settings.cors_origins)
    app = ClaraApp(
        fast_lane(cors),
        FAST_PATHS,
        settings.hosts(),
        documented=[APIRoute(execute.PATH, execute.execute, methods=["POST"], **execute.EXECUTE_DOCUMENTATION)],
        title="Clara Agent Runner",
        version=__version__,
        description="Deploy Clara Agent Studio workflows and call them as REST APIs.",
        openapi_url="/api/openapi.json",
        servers=[management_server(settings.base_url)],
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    count, log_requests = settings.metrics_enabled, logs_requests(settings)
    if count or log_requests or tracing.enabled():  # request metrics, log lines, spans
        app.observe(lambda inner: RequestObserver(inner, FAST_PATHS, count=count, log_requests=log_requests))
    if settings.metrics_enabled and settings.metrics_port == 0:
        app.include_router(metrics.router)
    app.include_router(usage.router)
    if cors is not None:
        app.add_middleware(CORSMiddleware, **cors)
    app.mount(f"{ASSETS}/vendor", StaticFiles(directory=_VENDOR_ASSETS), name="vendor-assets")
    app.mount(f"{ASSETS}/app", StaticFiles(directory=_APP_ASSETS), name="app-assets")
    app.include_router(workflows.router)
    app.include_router(executions.router)
    app.include_router(versions.router)
    app.include_router(deployments.router)
    app.include_router(webhooks.router)
    app.include_router(keys.router)
    app.include_router(stats.router)
    app.include_router(docs.router)
    app.include_router(system.router)
    install_manager(app)
    return app


@contextmanager
def _startup_heap_frozen() -> Iterator[None]:
    """Keep everything alive after start-up (modules, routes, compiled schemas, pools) out of the
    cyclic garbage collector's reach while the app serves. Its full collections otherwise walk those
    hundreds of thousands of objects again and again under load: freezing them cut the CPU of a
    hello-world execute by about a tenth and its p99 latency by a third
    (`bench/execute_throughput.py`). Start-up garbage is collected first, and the heap is handed back
    to the collector at shutdown, so an app started and stopped within a process pins nothing."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def create_app_from_environment() -> FastAPI:
    """Entry point for `uvicorn --factory` in the server's processes."""
    return create_app(drain_on_signals=True)
