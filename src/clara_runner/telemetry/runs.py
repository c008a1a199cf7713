"""A finished run, told to the metrics and to the log (one line per run: `LOG_REQUESTS`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from clara_runner.store.records import ExecutionWrite
from clara_runner.telemetry import metrics

log = structlog.get_logger("clara_runner.runs")


class RunLog:
    enabled = True


def configure(*, log_runs: bool) -> None:
    RunLog.enabled = log_runs


def run_finished(slug: str, row: ExecutionWrite, nodes: Iterable[Mapping[str, Any]]) -> None:
    metrics.run_finished(slug, row.version, row.status, (row.duration_ms or 0) / 1000, nodes)
    if RunLog.enabled:
        log.info(
            "run",
            execution_id=str(row.id),
            deployment=slug,
            version=row.version,
            status=row.status,
            duration_ms=row.duration_ms,
            error_code=row.error_code,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
        )
