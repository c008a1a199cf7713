"""This process's lease: the proof, renewed while it lives, that what it owns is still being looked after.

Registered at start, renewed every third of `PROCESS_LEASE_SECONDS`, released at a clean stop. Unfinished
runs and idempotency claims carry its id. If the process dies (`kill -9`, a lost machine), the lease
stops being renewed; once it has expired, any live process treats what it owned as abandoned
(`recovery.py`, `store/idempotency.py`). A renewal that finds its row gone (pruned long after it
expired, say after a long database outage) registers it again under the same id.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

import structlog

from clara_runner.clock import utcnow
from clara_runner.store import leases as lease_queries
from clara_runner.store.database import Database

log = structlog.get_logger(__name__)


class ProcessLease:
    def __init__(self, database: Database, kind: str, seconds: float) -> None:
        self.id = uuid.uuid4()
        self._database = database
        self._kind = kind
        self.seconds = seconds

    @property
    def renew_every(self) -> float:
        return self.seconds / 3

    async def register(self) -> None:
        now = utcnow()
        async with self._database.write() as conn:
            await lease_queries.register(
                conn,
                self.id,
                kind=self._kind,
                host=socket.gethostname(),
                pid=os.getpid(),
                now=now,
                expires_at=now + timedelta(seconds=self.seconds),
            )

    async def renew(self) -> None:
        async with self._database.write() as conn:
            renewed = await lease_queries.renew(conn, self.id, utcnow() + timedelta(seconds=self.seconds))
        if not renewed:
            log.warning("process_lease_lost", lease_id=str(self.id))
            await self.register()

    async def release(self) -> None:
        async with self._database.write() as conn:
            await lease_queries.release(conn, self.id)
