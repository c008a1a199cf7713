"""The metrics as Prometheus scrapes them, from one process or summed over several.

Several processes (uvicorn workers) need prometheus_client's multiprocess mode, which it chooses when it
is first imported: `prepare_multiprocess` sets its directory (and empties it, since values left by an
earlier server would be summed in) before anything imports it. `clara-runner serve` calls it first.
`clara-runner worker` is one process whatever its concurrency: `keep_in_memory` keeps its values out of
any such directory, so a scrape of the server never sums them and they are counted once, by its own port.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(default_directory: Path) -> Path:
    """Make every process this one starts write its metrics under one directory (the operator's
    `PROMETHEUS_MULTIPROC_DIR`, else `default_directory`), emptied of an earlier server's values."""
    if "prometheus_client" in sys.modules and MULTIPROCESS_VARIABLE not in os.environ:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory was set")
    directory = Path(os.environ.setdefault(MULTIPROCESS_VARIABLE, str(default_directory)))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def keep_in_memory() -> None:
    """Keep this process's metrics in its memory even where `PROMETHEUS_MULTIPROC_DIR` names a directory
    (one shared with a server on this machine, whose scrape would sum them in and which empties it when it
    starts); the processes it starts inherit the choice."""
    if "prometheus_client" in sys.modules and MULTIPROCESS_VARIABLE in os.environ:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory was unset")
    os.environ.pop(MULTIPROCESS_VARIABLE, None)


def multiprocess() -> bool:
    return MULTIPROCESS_VARIABLE in os.environ


def scrape() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if not multiprocess():
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve_on_port(host: str, port: int) -> None:
    """Serve the metrics on a port of their own, from a thread of this process (the one supervising a
    server's processes, or a worker)."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = REGISTRY
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, host, registry)


def process_exiting() -> None:
    """Drop this process's share of the gauges that sum live processes (runs in flight, pool use)."""
    if multiprocess():
        from prometheus_client import multiprocess as prometheus_multiprocess

        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
