"""The process's Prometheus metrics: every family `/metrics` exposes, and the few calls that move them.

Label values are bounded so a scrape stays small whatever callers send (docs/DEPLOYMENT.md lists them):
routes are templates (`/api/workflows/{slug}/execute`), never paths; error codes and node types are the
server's own finite sets; a deployment is named by its slug, or not at all when deployment labels are
turned off (`METRICS_DEPLOYMENT_LABELS=false`: the label is then empty, which Prometheus treats as absent);
LLM models are whatever workflows name, so each process keeps the first `MAX_MODELS` it sees and counts
the rest as `other`.

With several processes (uvicorn workers), `clara-runner serve` sets `PROMETHEUS_MULTIPROC_DIR` before
anything imports prometheus_client, so each process writes its values to files there and a scrape sums
them (`exposition.py`). Gauges then say how to combine processes (`multiprocess_mode`).

Hot paths call `labels()` once per label set: children are kept in plain dicts (`_Children`), which
costs a dictionary lookup per observation instead of the library's locked validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

MAX_MODELS = 50
"""Distinct LLM model names one process labels; later ones are counted as `other`."""
OTHER = "other"

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds: from a cached hello-world execute to the longest run the defaults allow."""
_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500)

http_duration = Histogram(
    "clara_http_request_duration_seconds",
    "HTTP requests answered (`_count`) and their time from first byte to the response's last, by route template "
    "and status",
    ["method", "route", "status"],
    buckets=_LATENCY,
)
http_errors = Counter(
    "clara_http_errors_total",
    "Error responses by their stable `code` (rate_limited, at_capacity, usage_budget_exhausted, ...)",
    ["code"],
)
executions = Counter(
    "clara_executions_total",
    "Executions finished, by deployment, version and status",
    ["deployment", "version", "status"],
)
execution_duration = Histogram(
    "clara_execution_duration_seconds",
    "Run duration from admission to final record, by deployment and status",
    ["deployment", "status"],
    buckets=_LATENCY,
)
node_duration = Histogram(
    "clara_node_duration_seconds",
    "Duration of the nodes that do work (not the pure, inline ones such as input and output), by type and status",
    ["node_type", "status"],
    buckets=_LATENCY,
)
queue_wait = Histogram(
    "clara_execution_queue_wait_seconds", "Time an admitted run waited for an execution slot", buckets=_LATENCY
)
llm_calls = Counter(
    "clara_llm_calls_total",
    "LLM API calls by provider, model and outcome (ok, error)",
    ["provider", "model", "outcome"],
)
llm_tokens = Counter(
    "clara_llm_tokens_total", "Tokens LLM APIs reported, by provider, model and kind", ["provider", "model", "kind"]
)
llm_duration = Histogram(
    "clara_llm_call_duration_seconds",
    "LLM API call duration by provider and model",
    ["provider", "model"],
    buckets=_LATENCY,
)
sandbox_evaluations = Counter(
    "clara_sandbox_evaluations_total", "JavaScript sandbox evaluations by outcome (ok, error, timeout)", ["outcome"]
)
sandbox_worker_starts = Counter("clara_sandbox_worker_starts_total", "Sandbox worker processes started")
webhook_deliveries = Counter(
    "clara_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, retry, failed)",
    ["outcome"],
)
writer_batch_size = Histogram("clara_writer_batch_size", "Execution rows stored per group commit", buckets=_SIZES)
writer_backlog = Gauge(
    "clara_writer_backlog", "Execution rows waiting for the writer (summed over processes)", multiprocess_mode="livesum"
)
db_connections_in_use = Gauge(
    "clara_db_pool_connections_in_use",
    "Database pool connections checked out (summed over processes)",
    multiprocess_mode="livesum",
)
runs_in_flight = Gauge(
    "clara_runs_in_flight", "Runs holding an execution slot (summed over processes)", multiprocess_mode="livesum"
)

_M = TypeVar("_M", Counter, Histogram, Gauge)


class _Children(Generic[_M]):
    """A metric's children by label values, found with one dictionary lookup."""

    def __init__(self, metric: _M) -> None:
        self._metric: _M = metric
        self._children: dict[tuple[str, ...], _M] = {}

    def __call__(self, *values: str) -> _M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class _Bounded:
    """Label values from outside (model names): the first `limit` seen are kept, the rest become `other`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


class Config:
    enabled = True
    """False with `METRICS_ENABLED=false`: the hot paths then record nothing."""
    deployments = True
    """Deployments are named in labels by slug, or not at all."""
    untimed: frozenset[str] = frozenset()
    """Node types not timed: the pure, inline ones, which take microseconds (recording costs as much)."""


_NOTHING = nullcontext()


_durations = _Children(http_duration)
_errors = _Children(http_errors)
_executions = _Children(executions)
_execution_durations = _Children(execution_duration)
_nodes = _Children(node_duration)
_models = _Bounded(MAX_MODELS)


def configure(*, enabled: bool, deployment_labels: bool, untimed_node_types: frozenset[str] = frozenset()) -> None:
    Config.enabled, Config.deployments, Config.untimed = enabled, deployment_labels, untimed_node_types


def request_answered(method: str, route: str, status: int, seconds: float) -> None:
    _durations(method, route, str(status)).observe(seconds)


def error_answered(code: str) -> None:
    if Config.enabled:
        _errors(code).inc()


def run_finished(slug: str, version: int, status: str, seconds: float, nodes: Iterable[Mapping[str, Any]]) -> None:
    """A run's final row: the run, and each node of its trace (`type`, `status`, `durationMs`)."""
    if not Config.enabled:
        return
    deployment = slug if Config.deployments else ""
    _executions(deployment, str(version) if Config.deployments else "", status).inc()
    _execution_durations(deployment, status).observe(seconds)
    untimed = Config.untimed
    for node in nodes:
        duration = node.get("durationMs")
        if duration is not None and node["type"] not in untimed:
            _nodes(node["type"], node["status"]).observe(duration / 1000)


def llm_call(provider: str, model: str, seconds: float, prompt: int | None, completion: int | None, ok: bool) -> None:
    if not Config.enabled:
        return
    model = _models(model)
    llm_calls.labels(provider, model, "ok" if ok else "error").inc()
    llm_duration.labels(provider, model).observe(seconds)
    if prompt is not None:
        llm_tokens.labels(provider, model, "prompt").inc(prompt)
    if completion is not None:
        llm_tokens.labels(provider, model, "completion").inc(completion)


def webhook_attempt(delivered: bool, retried: bool) -> None:
    if Config.enabled:
        webhook_deliveries.labels("delivered" if delivered else "retry" if retried else "failed").inc()


def slot_taken(waited_seconds: float) -> AbstractContextManager[None]:
    """A run got its execution slot after waiting `waited_seconds`: count it as in flight for the block."""
    if not Config.enabled:
        return _NOTHING
    queue_wait.observe(waited_seconds)
    return runs_in_flight.track_inprogress()
