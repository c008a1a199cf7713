"""Which library lines reach the log: procrastinate's per-job info lines only at `LOG_LEVEL=debug`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from clara_runner.telemetry.logs import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    procrastinate_level = logging.getLogger("procrastinate").level
    yield
    root.handlers, root.level = handlers, level
    logging.getLogger("procrastinate").setLevel(procrastinate_level)


def _events(stderr: str) -> list[str]:
    return [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("restored_logging")
def test_procrastinate_job_lines_show_at_debug_only_and_its_warnings_always(capsys: pytest.CaptureFixture[str]) -> None:
    worker = logging.getLogger("procrastinate.worker.host:1")
    configure_logging("info")
    worker.info("Starting job clara.run[1]")
    worker.warning("Job clara.run[2] stalled")
    logging.getLogger("clara.other").info("an info line of another library")
    assert _events(capsys.readouterr().err) == ["Job clara.run[2] stalled", "an info line of another library"]

    configure_logging("debug")
    worker.info("Starting job clara.run[3]")
    assert _events(capsys.readouterr().err) == ["Starting job clara.run[3]"]
