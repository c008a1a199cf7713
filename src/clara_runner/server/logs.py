"""Structured logs: one JSON object per line on stderr, secrets redacted (`security/redaction.py`)."""

from __future__ import annotations

import logging
import sys

import structlog

from clara_runner.security.redaction import Redactor, log_processor


def configure_logging(level: str, server_secrets: Redactor | None = None) -> None:
    """Configure structlog for the process. Every event is redacted after exceptions are rendered, so
    a traceback that quotes a key is redacted too."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            log_processor(server_secrets or Redactor()),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
