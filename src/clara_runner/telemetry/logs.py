"""Logs: one line per event on stderr, JSON (`LOG_FORMAT=json`, the default) or readable text
(`console`), secrets redacted (`security/redaction.py`).

The project's own events go through structlog; the standard library's records (uvicorn, SQLAlchemy,
httpx, any library) are formatted by the same processors and renderer (`ProcessorFormatter`), so every
line of the process has one shape. Fields bound with `structlog.contextvars` for a request (its request
id, deployment, key prefix, execution id) appear on every line logged while it is handled.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from clara_runner import jsonio
from clara_runner.security.redaction import Redactor, log_processor

_HANDLER = "clara-runner"
"""The name of the root handler installed here, replaced (not added again) when logging is configured anew."""
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
"""Loggers uvicorn may have given handlers of their own: they are made to use the root's. Whether
`uvicorn.access` propagates is uvicorn's to say (`--access-log`): it turns the access line off by stopping
its propagation, and a uvicorn protocol logs that line whenever the logger reaches any handler, so this
function, which also runs in each worker after uvicorn configured logging, leaves that choice alone."""
_QUIET_BELOW_DEBUG = ("procrastinate",)
"""Loggers kept to warnings unless `LOG_LEVEL=debug`: procrastinate logs two info lines per job (taken,
ended) that repeat the worker's own `run` line, and rendering them cost a queue worker a sizeable share of
each run (bench/README.md); its warnings and errors (a job that failed, a stalled worker) still show."""


def _json_line(event: dict[str, Any], **_options: Any) -> str:
    """A log line's JSON by orjson (`jsonio.dumps`): a server logs a line or two per request, and the
    standard library's encoder made up a sizeable share of what a line cost (bench/README.md)."""
    return jsonio.dumps(event).decode()


def configure_logging(level: str, server_secrets: Redactor | None = None, log_format: str = "json") -> None:
    """Configure structlog and the standard library's logging for the process. Every event is redacted
    after exceptions are rendered, so a traceback that quotes a key is redacted too."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        log_processor(server_secrets or Redactor()),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if log_format == "console"
        else structlog.processors.JSONRenderer(serializer=_json_line)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    root.handlers = [*(kept for kept in root.handlers if kept.get_name() != _HANDLER), handler]
    root.setLevel(numeric)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers = []
        if name != "uvicorn.access":
            library.propagate = True
    for name in _QUIET_BELOW_DEBUG:
        logging.getLogger(name).setLevel(logging.NOTSET if numeric <= logging.DEBUG else logging.WARNING)
