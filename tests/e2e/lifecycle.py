"""Settings of live servers in run lifecycle tests: short leases, a loopback model, no rate limit."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI
from tests.support import server_env

LEASE_SECONDS = 2
"""Short leases, so a killed process's runs are found within seconds."""
FINAL = {"success", "error", "timeout", "cancelled", "interrupted"}


def lifecycle_env(database_url: str, data_dir: Path, model: FakeOpenAI, **extra: str) -> dict[str, str]:
    settings = {
        "OPENAI_API_BASE_URL": model.base_url,
        "OPENAI_API_KEY": "sk-server-key-for-tests",
        "PROCESS_LEASE_SECONDS": str(LEASE_SECONDS),
        "RUN_RECORD_AFTER_MS": "50",
        "RATE_LIMIT_ENABLED": "false",
        "MAX_CONCURRENT_EXECUTIONS": "200",
        "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
    }
    return server_env(database_url, data_dir, **{**settings, **extra})
