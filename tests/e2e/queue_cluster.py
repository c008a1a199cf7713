"""Real processes of the queue backend: `clara-runner worker` children next to `clara-runner serve` ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support import free_port


def queue_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """`env` of a server process, switched to the queue backend, with small connection pools: a test starts
    up to five processes on a PostgreSQL server other tests share (docs/DEPLOYMENT.md counts them)."""
    return {**env, "EXECUTION_BACKEND": "queue", "DB_POOL_SIZE": "3", "DB_POOL_OVERFLOW": "2", **extra}


class LiveWorker:
    """`clara-runner worker` in a child process, ready once it has registered with the queue."""

    def __init__(self, env: dict[str, str], concurrency: int = 4) -> None:
        data_dir = Path(env.get("CLARA_DATA_DIR", "."))
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / f"worker-{free_port()}.log"
        command = [sys.executable, "-m", "clara_runner", "worker", "--concurrency", str(concurrency)]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, env={**os.environ, **env, "LOG_LEVEL": "info"}, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()}")
            if '"worker_started"' in self.log.read_text():
                return
            time.sleep(0.1)
        self.process.kill()
        raise RuntimeError(f"worker did not start:\n{self.log.read_text()}")

    def output(self) -> str:
        return self.log.read_text()

    @property
    def lease_id(self) -> str:
        """The process lease the worker's runs name as their owner (from its start-up log line)."""
        for line in self.output().splitlines():
            if '"worker_started"' in line:
                lease: str = json.loads(line)["lease_id"]
                return lease
        raise AssertionError("the worker logged no start")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)

    def __enter__(self) -> LiveWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
