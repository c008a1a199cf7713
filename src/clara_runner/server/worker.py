"""Entry point of `clara-runner worker` (started by name from the CLI, as uvicorn starts the app): a worker
renders replies with the server's own envelopes, so a run's answer is the same whichever process ran it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from clara_runner.runtime.services import Runtime
from clara_runner.runtime.worker import work
from clara_runner.security.redaction import Redactor
from clara_runner.server.replies import render_execution
from clara_runner.settings import Settings
from clara_runner.telemetry.logs import configure_logging


def main(settings: Settings, *, queues: Sequence[str], concurrency: int) -> int:
    configure_logging(settings.log_level, Redactor(settings.secret_values()), settings.log_format)
    runtime = Runtime.build(settings, render=render_execution, role="worker")
    asyncio.run(work(runtime, queues=queues, concurrency=concurrency))
    return 0
