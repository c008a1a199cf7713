"""`clara-runner worker`: a process that runs the jobs of the queue backend until it is told to stop.

It is built by the same composition root as a server process (`Runtime.build(..., role="worker")`: node
library, sandbox pool, egress policy, HTTP clients, writer, lease, sweeps), so a run behaves on a worker
exactly as it would in-process. Its procrastinate worker takes at most `concurrency` jobs at once, the
same number as its execution slots, so a job it takes starts at once.

SIGTERM or SIGINT: the worker stops taking jobs, gives the runs in flight `SHUTDOWN_GRACE_SECONDS` to
finish, then stops the rest. Each goes back to the queue where its deployment's retry policy and
`QUEUE_MAX_ATTEMPTS` allow, as a dead worker's run would (`hand_back.py`; by default only a run that had
not started an outbound call): another worker runs it and its caller, still waiting, gets that run's
reply. The others are recorded `interrupted` (`server_shutdown`; their callers are answered 503
`shutting_down` by the replica relaying them). Then it exits. A second signal exits at once; its runs are
then found by the lease sweep like those of a killed worker.

Losing the database (PostgreSQL restarting, its connections dropped) does not end the worker: procrastinate
stops taking jobs, and is started again after a pause (0.5 s, doubling up to 10 s) until the database
answers; runs in flight write their rows as runs of a server do through an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Sequence

import structlog

from clara_runner.errors import DatabaseUnavailable
from clara_runner.runtime.services import Runtime
from clara_runner.store.job_queue import JobQueue

log = structlog.get_logger(__name__)

_FIRST_PAUSE_SECONDS = 0.5
_LONGEST_PAUSE_SECONDS = 10.0
"""How long a worker that lost the database waits before it tries again, doubling from the first."""


async def work(runtime: Runtime, *, queues: Sequence[str], concurrency: int) -> None:
    jobs, queue_worker = runtime.jobs, runtime.queue_worker
    if jobs is None or queue_worker is None:
        raise RuntimeError("clara-runner worker needs EXECUTION_BACKEND=queue")
    await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, _on_signal, stop)
    try:
        jobs.register(queue_worker.run_job)
        name = f"{socket.gethostname()}:{os.getpid()}"
        taking = asyncio.create_task(_take_jobs(jobs, queues=queues, concurrency=concurrency, name=name))
        log.info("worker_started", queues=list(queues), concurrency=concurrency, lease_id=str(runtime.lease.id))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait((taking, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if taking.done():
            taking.result()
        else:
            log.info("worker_stopping", runs_in_flight=len(runtime.executions.in_flight))
            draining = asyncio.create_task(runtime.drain())
            taking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await taking
            await draining
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await runtime.stop()


async def _take_jobs(jobs: JobQueue, *, queues: Sequence[str], concurrency: int, name: str) -> None:
    """procrastinate's worker, started again whenever it stops because it lost the database (a restart of
    PostgreSQL, a dropped connection): the worker process pauses, as its runs' writes do, and takes jobs
    again once the database answers, instead of exiting with every run left queued."""
    pause = _FIRST_PAUSE_SECONDS
    while True:
        try:
            await jobs.run_worker(queues=queues, concurrency=concurrency, name=name)
            return
        except DatabaseUnavailable:
            log.warning("worker_database_lost", retry_in_seconds=pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)


def _on_signal(stop: asyncio.Event) -> None:
    if stop.is_set():
        log.warning("worker_exit_now", reason="second signal")
        os._exit(1)
    stop.set()
