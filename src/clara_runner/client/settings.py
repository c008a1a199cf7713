"""The client's defaults."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DEFAULT_BASE_URL = "http://localhost:3000"
DEFAULT_TIMEOUT = 330.0
"""Seconds: a synchronous run may take the server's MAX_EXECUTION_TIME (300 s by default), and then some."""


def _user_agent() -> str:
    try:
        return f"clara-runner-client/{version('clara-agent-runner')}"
    except PackageNotFoundError:
        return "clara-runner-client"


USER_AGENT = _user_agent()
