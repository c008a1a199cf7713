"""The distributed queue of the queue backend: procrastinate on the server's PostgreSQL database, and a
LISTEN connection on which a web replica hears about the runs it relays.

Procrastinate keeps its jobs in its own tables (`procrastinate_*`, created by `ensure_schema`, not by
the server's Alembic history: procrastinate ships and versions its own schema). One task, `TASK`, takes
an execution id; a web replica defers it in the transaction that inserts the run's `queued` row
(`defer`), so a run is never queued without a job nor a job left without its run. Workers fetch jobs
with `FOR UPDATE SKIP LOCKED` and are woken by procrastinate's own NOTIFY.

A job's priority is fixed when it is queued (`fair_priority`), from two counts of the runs waiting then: its
flow's (the same deployment and API key; a deployment's runs without a key, an admin's, are one flow) and
its deployment's. Procrastinate takes the highest priority first (then the oldest job), and the priority
orders by the flow's count first, then by the deployment's: the first waiting run of every flow comes before
the second of any, and among first runs those of quieter deployments come first. So a key holder with a
thousand runs waiting delays another key's new run of the same deployment, or another deployment's, by one
run slot at most: the slot that frees next goes to the newcomer (or to another flow's first run).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.errors import DatabaseUnavailable
from clara_runner.store.database import Database
from clara_runner.store.idle_ping import IdlePingPool
from clara_runner.store.run_queue import CHANNEL

log = structlog.get_logger(__name__)

TASK = "clara.run"
DEFAULT_QUEUE = "runs"

JobHandler = Callable[[uuid.UUID], Awaitable[None]]

_WHILE_THE_DATABASE_IS_UNREACHABLE = procrastinate.RetryStrategy(
    wait=1, linear_wait=1, retry_exceptions={DatabaseUnavailable}
)
"""A job that could not reach the database (its run not claimed yet, or its reply not stored) is run again,
1, 2, 3, ... seconds later, for as long as it takes: failed, it would leave its run `queued` for good. A
run it had claimed is not claimed twice: the next attempt finds it no longer waiting."""

FLOW_RANK_CAP = 20_000
"""Runs of one flow waiting beyond this many rank as this many (served in queue order among themselves)."""
DEPLOYMENT_RANK_CAP = 99_999
"""Runs of one deployment waiting beyond this many rank as this many (`QUEUE_MAX_DEPTH` is 1,000 by default)."""
_FLOW_RANK_SCALE = DEPLOYMENT_RANK_CAP + 1
"""One step of the flow's rank outweighs any deployment rank, so the flow's rank decides first; the lowest
priority, -(20,000 x 100,000 + 99,999), stays above int4's -2,147,483,648."""


def fair_priority(flow_waiting: int, deployment_waiting: int) -> int:
    """The priority of a job queued while its flow (deployment and key) had `flow_waiting` runs waiting and its
    deployment `deployment_waiting`: higher for fewer of the flow's, then fewer of the deployment's, each
    capped (`FLOW_RANK_CAP`, `DEPLOYMENT_RANK_CAP`) so that it always fits procrastinate's int4 column."""
    return -(min(flow_waiting, FLOW_RANK_CAP) * _FLOW_RANK_SCALE + min(deployment_waiting, DEPLOYMENT_RANK_CAP))


class JobQueue:
    def __init__(self, database: Database, *, stalled_seconds: float, pool_size: int = 3) -> None:
        self._database = database
        self.stalled_seconds = stalled_seconds
        """Procrastinate's own worker heartbeat bound: a job taken by a worker silent this long goes back to
        the queue (`retry_stalled`)."""
        self._connector = procrastinate.PsycopgConnector(
            conninfo=database.conninfo,
            min_size=1,
            max_size=pool_size,
            pool_factory=functools.partial(IdlePingPool, configure=_autocommit),
        )
        """Its connections in autocommit: each query procrastinate sends through its pool is one statement
        calling one of its functions (fetch a job, finish it), atomic on its own, so BEGIN and COMMIT would
        be two round trips more per query. A job deferred with a run goes through the run's transaction."""
        self.app = procrastinate.App(connector=self._connector)
        self._handler: JobHandler | None = None
        self._opened = False

        async def run(execution_id: str) -> None:
            if self._handler is None:
                raise RuntimeError(f"run {execution_id} was handed to a process that runs no jobs")
            await self._handler(uuid.UUID(execution_id))

        self._task = self.app.task(name=TASK, retry=_WHILE_THE_DATABASE_IS_UNREACHABLE)(run)

    def register(self, handler: JobHandler) -> None:
        """Run `handler(execution_id)` for every job this process's worker takes."""
        self._handler = handler

    async def open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def ensure_schema(self) -> None:
        """Create procrastinate's tables and functions on a database that has none yet (processes starting
        together take turns on an advisory lock)."""
        async with self._database.write() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('procrastinate_schema'))"))
            present = (await conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))).scalar_one()
            if not present:
                raw = await _driver_connection(conn)
                await raw.execute(self.app.schema_manager.get_schema())

    async def defer(
        self, conn: AsyncConnection, execution_id: uuid.UUID, *, queue: str, priority: int, after: float = 0.0
    ) -> int:
        """Defer the run's job in the caller's transaction, to be taken `after` seconds from now at the
        earliest; return the job's id."""
        raw = await _driver_connection(conn)
        deferrer = self._task.configure(
            queue=queue,
            priority=priority,
            connection=raw,
            schedule_at=datetime.now(UTC) + timedelta(seconds=after) if after else None,
        )
        job_id: int = await deferrer.defer_async(execution_id=str(execution_id))
        return job_id

    async def run_worker(self, *, queues: Iterable[str], concurrency: int, name: str) -> None:
        """Take and run jobs until cancelled (jobs in flight are awaited first). `DatabaseUnavailable` when
        procrastinate stopped because it lost the database (its LISTEN connection or a query failed: it
        then stops the whole worker), for the caller to start it again once the database answers."""
        try:
            await self.app.run_worker_async(
                queues=list(queues),
                concurrency=concurrency,
                name=name,
                install_signal_handlers=False,
                delete_jobs="successful",
                listen_notify=True,
                fetch_job_polling_interval=1.0,
                update_heartbeat_interval=self.stalled_seconds / 3,
                stalled_worker_timeout=self.stalled_seconds,
            )
        except procrastinate.exceptions.ConnectorException as exc:
            raise DatabaseUnavailable() from exc

    async def retry_stalled(self) -> int:
        """Put back in the queue the jobs taken by workers procrastinate heard nothing from for
        `stalled_seconds` (a job another process put back first is left to it). A worker that died between
        taking a job and claiming its run leaves the run waiting for that job: the job runs again and claims
        it. A run it had claimed is the lease sweep's (requeued with a new job, or interrupted), and the
        job's second run finds nothing to claim."""
        manager = self.app.job_manager
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_seconds))
        for job in stalled:
            with contextlib.suppress(procrastinate.exceptions.ProcrastinateException):
                await manager.retry_job(job)
        if stalled:
            log.warning("stalled_jobs_retried", count=len(stalled))
        return len(stalled)


async def _autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)


async def _driver_connection(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


Listener = Callable[[Iterable[uuid.UUID]], None]


class RunChanges:
    """One LISTEN connection per process on `run_queue.CHANNEL`: every announced run id goes to `listener`.

    The connection is opened again after a failure (a second later, then every few seconds); changes
    announced meanwhile are missed, so whoever waits on them also reads the state it waits for at a slow
    interval."""

    def __init__(self, database: Database, listener: Listener) -> None:
        self._conninfo = database.conninfo
        self._listener = listener
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="run-changes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        delay = 1.0
        while True:
            try:
                async with self._connection() as conn:
                    self.connected.set()
                    delay = 1.0
                    async for notice in conn.notifies():
                        self._listener(uuid.UUID(part) for part in notice.payload.split(",") if part)
            except (psycopg.Error, OSError, DatabaseUnavailable) as exc:
                self.connected.clear()
                log.warning("run_changes_disconnected", reason=str(exc).splitlines()[0] if str(exc) else "")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            yield conn
