"""The server secret that keys are hashed under.

From `CLARA_SECRET_KEY` when set; otherwise generated once and kept in the data folder, so a restart
keeps every issued key valid. Several replicas must share one secret: set `CLARA_SECRET_KEY` there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

SECRET_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def load_secret(configured: str, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        _create_once(path)
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty; delete it or set CLARA_SECRET_KEY")
    return secret.encode()


def _create_once(path: Path) -> None:
    """Write a new secret atomically; if another process won the race, keep its secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
