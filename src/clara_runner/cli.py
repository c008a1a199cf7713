"""`clara-runner`: serve the API, run queued runs (worker), run a flow locally, migrate the database."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import socket
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path

import structlog
from pydantic import ValidationError

from clara_runner import __version__
from clara_runner.security.redaction import Redactor
from clara_runner.settings import DeprecatedSettingWarning, Settings
from clara_runner.store.migrate import upgrade
from clara_runner.telemetry.exposition import keep_in_memory, multiprocess, prepare_multiprocess, serve_on_port
from clara_runner.telemetry.logs import configure_logging

_CONNECTIONS_CLOSE_SECONDS = 3
"""After the app has drained (SHUTDOWN_GRACE_SECONDS, `server/signals.py`), how long uvicorn waits for the
last responses to be sent before it closes what is left."""


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    for name, value in (
        ("HOST", args.host),
        ("PORT", args.port),
        ("WEB_CONCURRENCY", args.workers),
        ("SHUTDOWN_GRACE_SECONDS", args.grace),
    ):
        if value is not None:
            os.environ[name] = str(value)
    settings = Settings()
    configure_logging(settings.log_level, Redactor(settings.secret_values()), settings.log_format)
    _check_port_free(settings.host, settings.port, "--port or PORT")
    _serve_metrics(settings)
    upgrade(settings.resolved_database_url)
    structlog.get_logger("clara_runner.cli").info(
        "server_starting",
        version=__version__,
        url=f"http://{settings.host}:{settings.port}",
        workers=settings.web_concurrency,
    )
    uvicorn.run(
        "clara_runner.server.app:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_concurrency,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        http="clara_runner.server.protocol:GuardedHttpToolsProtocol",
        timeout_graceful_shutdown=_CONNECTIONS_CLOSE_SECONDS,
        access_log=args.access_log,
        log_config=None,
    )
    return 0


def _serve_metrics(settings: Settings) -> None:
    """With several workers, metrics are kept per process in files that a scrape sums (every worker's); one
    worker keeps them in memory, which costs about half as much per request (unless the operator named a
    `PROMETHEUS_MULTIPROC_DIR`). They are served from this process on `METRICS_PORT` when it is set."""
    if not settings.metrics_enabled:
        return
    if settings.web_concurrency > 1 or multiprocess():
        prepare_multiprocess(settings.data_dir / "metrics")
    _serve_metrics_port(settings)


def _serve_metrics_port(settings: Settings) -> None:
    if settings.metrics_port:
        _check_port_free(settings.host, settings.metrics_port, "METRICS_PORT")
        serve_on_port(settings.host, settings.metrics_port)


class PortUnavailable(Exception):
    """The address to serve on cannot be bound (in use, or not this machine's)."""


def _check_port_free(host: str, port: int, setting: str) -> None:
    """Bind the address once before anything starts, so a busy port is one clear error (and exit 1)
    instead of a start-up banner followed by uvicorn's bind failure."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        reason = "it is in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise PortUnavailable(
            f"cannot listen on {host}:{port}: {reason}; stop that process or choose another port ({setting})"
        ) from exc


_HEALTH_TIMEOUT_SECONDS = 5
_EVERY_INTERFACE = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (compared with, never bound)


def _health(_: argparse.Namespace) -> int:
    """Ask the server on this machine (`HOST`, `PORT`) for `/health`: exit 0 when it answers 200, 1 when
    not (the container's HEALTHCHECK). The request names a host the server answers to."""
    settings = Settings()
    host = "127.0.0.1" if settings.host in _EVERY_INTERFACE else settings.host
    address = f"[{host}]" if ":" in host else host
    url = f"http://{address}:{settings.port}/health"
    allowed = settings.hosts()
    named = "localhost" if allowed.any_host or "localhost" in allowed.names else min(allowed.names, default=host)
    request = urllib.request.Request(url, headers={"Host": f"[{named}]" if ":" in named else named})
    try:
        with urllib.request.urlopen(request, timeout=_HEALTH_TIMEOUT_SECONDS) as response:  # noqa: S310 (http only)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"clara-runner: unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{url}: {status}", file=sys.stderr)
    return 0 if status == 200 else 1


def _migrate(_: argparse.Namespace) -> int:
    settings = Settings()
    upgrade(settings.resolved_database_url)
    print("Database schema is up to date.", file=sys.stderr)
    return 0


def _worker(args: argparse.Namespace) -> int:
    for name, value in (("MAX_CONCURRENT_EXECUTIONS", args.concurrency), ("SHUTDOWN_GRACE_SECONDS", args.grace)):
        if value is not None:
            os.environ[name] = str(value)
    settings = Settings()
    if settings.execution_backend != "queue":
        raise WorkerNotNeeded(
            "clara-runner worker runs the jobs of the queue backend: set EXECUTION_BACKEND=queue (and a PostgreSQL"
            " DATABASE_URL) for it and for the servers"
        )
    keep_in_memory()
    if settings.metrics_enabled:
        _serve_metrics_port(settings)
    upgrade(settings.resolved_database_url)
    queues = [queue.strip() for queue in args.queues.split(",") if queue.strip()]
    print(
        f"Clara Agent Runner {__version__} worker: queues {', '.join(queues)}, "
        f"{settings.max_concurrent_executions} runs at once, {_worker_metrics(settings)}",
        file=sys.stderr,
    )
    entry = importlib.import_module("clara_runner.server.worker")
    result: int = entry.main(settings, queues=queues, concurrency=settings.max_concurrent_executions)
    return result


def _worker_metrics(settings: Settings) -> str:
    """Where the worker's metrics are, for its start-up line: it has no API port to serve them on."""
    if not settings.metrics_enabled:
        return "metrics off"
    if not settings.metrics_port:
        return "metrics not served (set METRICS_PORT)"
    return f"metrics on http://{settings.host}:{settings.metrics_port}/metrics"


class WorkerNotNeeded(Exception):
    """`clara-runner worker` was started without the queue backend."""


def _run(args: argparse.Namespace) -> int:
    from clara_runner import local_run

    return local_run.main(args.flow, args.input, args.input_file, Settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clara-runner", description="Serve Clara workflows as REST APIs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations, then serve the API (env HOST, PORT, DATABASE_URL)")
    serve.add_argument("--host", help="interface to bind (env HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (env PORT, default 3000)")
    serve.add_argument("--workers", type=int, help="worker processes (env WEB_CONCURRENCY, default 1)")
    serve.add_argument(
        "--grace",
        type=float,
        help="seconds runs in flight get to finish after SIGTERM (env SHUTDOWN_GRACE_SECONDS, default 30)",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="also log uvicorn's own access line per request (the server logs one of its own: LOG_REQUESTS)",
    )
    serve.set_defaults(handler=_serve)

    run = commands.add_parser(
        "run",
        help="run a flow locally: print its outputs as JSON and a per-node table (exit 1: a node failed, "
        "2: the flow or the inputs have problems)",
    )
    run.add_argument("flow", type=Path, help="the workflow JSON file (any format deploy accepts)")
    run.add_argument("--input", action="append", default=[], metavar="FIELD=VALUE", help="an input field value")
    run.add_argument(
        "--input-file", action="append", default=[], metavar="FIELD=PATH", help="an input field set to a file, base64"
    )
    run.set_defaults(handler=_run)

    worker = commands.add_parser(
        "worker",
        help="run the executions of the queue backend (EXECUTION_BACKEND=queue, PostgreSQL DATABASE_URL)",
    )
    worker.add_argument("--concurrency", type=int, help="runs at once (env MAX_CONCURRENT_EXECUTIONS, default 10)")
    worker.add_argument(
        "--queues", default="runs", help="comma-separated procrastinate queues to take jobs from (default: runs)"
    )
    worker.add_argument(
        "--grace",
        type=float,
        help="seconds runs in flight get to finish after SIGTERM (env SHUTDOWN_GRACE_SECONDS, default 30)",
    )
    worker.set_defaults(handler=_worker)

    migrate = commands.add_parser("migrate", help="bring the database (env DATABASE_URL) to the latest schema")
    migrate.set_defaults(handler=_migrate)

    health = commands.add_parser("health", help="exit 0 if the server on this machine (HOST, PORT) is healthy, else 1")
    health.set_defaults(handler=_health)
    return parser


def configuration_problems(error: ValidationError) -> str:
    """One line per bad setting, naming the variable and what it must be, instead of pydantic's report
    (which names the model and links to its own docs, not to the variable the operator has to fix)."""
    lines = []
    for problem in error.errors(include_url=False):
        name = ".".join(str(part) for part in problem["loc"]) or "configuration"
        lines.append(f"  {name}={problem['input']!r}: {problem['msg']}")
    return "invalid setting (environment or .env):\n" + "\n".join(lines)


_python_format_warning = warnings.formatwarning


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A renamed setting is the operator's to fix: say so like the CLI's errors, without the Python
    source line that raised the warning."""
    if issubclass(category, DeprecatedSettingWarning):
        return f"clara-runner: warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _format_warning
    try:
        result: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except ValidationError as exc:
        print(f"clara-runner: error: {configuration_problems(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"clara-runner: error: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
