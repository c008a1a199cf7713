"""Metrics wiring of a process's long-lived parts: the components report through hooks (they know
nothing of Prometheus), connected here to the metric families (`telemetry/metrics.py`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from clara_runner.flow.llm_calls import LlmObserver, NodeObserver
from clara_runner.settings import Settings
from clara_runner.telemetry import metrics, runs, spending, tracing
from clara_runner.telemetry.llm import observe_llm_call
from clara_runner.telemetry.spending import parse_prices

if TYPE_CHECKING:
    from clara_runner.runtime.services import Runtime


def llm_observer(settings: Settings) -> LlmObserver | None:
    """The run context's watcher of LLM calls, when anything watches them (metrics, traces, prices)."""
    watched = settings.metrics_enabled or tracing.enabled() or bool(settings.usage_prices)
    return observe_llm_call if watched else None


def logs_requests(settings: Settings) -> bool:
    """The request and run lines are on (`LOG_REQUESTS`) and their level (`info`) is logged."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    return settings.log_requests and level <= logging.INFO


def node_observer() -> NodeObserver | None:
    return tracing.node_span if tracing.enabled() else None


def instrument(runtime: Runtime) -> None:
    settings = runtime.settings
    spending.configure(parse_prices(settings.usage_prices))
    runs.configure(log_runs=logs_requests(settings))
    tracing.trace_engine(runtime.database.engine.sync_engine)
    registry = runtime.registry
    inline = frozenset(name for name in registry.names() if (found := registry.get(name)) is not None and found.inline)
    metrics.configure(
        enabled=settings.metrics_enabled,
        deployment_labels=settings.metrics_deployment_labels,
        untimed_node_types=inline,
    )
    if not settings.metrics_enabled:
        return
    writer = runtime.writer

    def batch_stored(size: int) -> None:
        metrics.writer_batch_size.observe(size)
        metrics.writer_backlog.set(writer.backlog)

    writer.observers.append(batch_stored)
    runtime.database.observe_pool(metrics.db_connections_in_use.inc, metrics.db_connections_in_use.dec)
    runtime.sandbox.on_evaluated = lambda outcome: metrics.sandbox_evaluations.labels(outcome).inc()
    runtime.sandbox.on_worker_started = metrics.sandbox_worker_starts.inc
