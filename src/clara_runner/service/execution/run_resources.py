"""One run as a resource: read it, follow its events, cancel it (`/api/executions/{id}`).

Who may: the admin, and the holders of a key of the run's deployment. Anyone else with a valid key gets
404 `execution_not_found`, as for an id that does not exist: execution ids are not guessable, and a
key of one deployment learns nothing about another's runs.

Events: a run going on in this process is followed in memory (`RunHandle.log`), so a live reader waits
for nothing but the run; a run that ended before it was acknowledged has its whole log in its row
(`executions.event_log`); any other run with a log (finished, or going on in another process sharing the
database) is read from `execution_events` and, while it is unfinished, polled every `POLL_SECONDS` until
its last event. Only runs started in stream, async or wait mode have a log: a synchronous caller got its
answer in the response, and keeping a log for every run would cost writes on the hot path.

Cancel: a run going on in this process is cancelled at once and recorded `cancelled` (`run_cancelled`);
a run going on in another process is marked for its owner, which stops it within a poll interval
(`cancellation.py`), and the answer waits up to `_CANCEL_SETTLE_SECONDS` for its `cancelled` row; a run
of the queue backend still waiting for a worker is recorded `cancelled` at once. A finished run is left
as it is (409 `run_finished`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import nullcontext

from clara_runner import jsonio
from clara_runner.clock import iso
from clara_runner.errors import ClaraError
from clara_runner.service.access import Access
from clara_runner.service.execution.cancellation import Cancelled, cancel_elsewhere
from clara_runner.service.execution.detached import DetachedRuns
from clara_runner.service.execution.event_log import RUN_FAILED, TERMINAL, LoggedEvent
from clara_runner.service.execution.relay import RunRelay
from clara_runner.service.execution.runs import CANCEL_REQUESTED, ExecutionService
from clara_runner.store import events as event_queries
from clara_runner.store import executions as execution_queries
from clara_runner.store import run_queue
from clara_runner.store.database import Database
from clara_runner.store.records import ExecutionRecord
from clara_runner.store.tables import UNFINISHED

POLL_SECONDS = 0.5
_PAGE = 100
"""Chunks read per query."""
_LAST_EVENTS_POLLS = 4
"""How many polls a reader waits for the last events of a finished run (stored within a flush interval
of its row; a run whose process died has none, and its stream ends after these)."""
_CANCEL_SETTLE_SECONDS = 5.0
"""How long a cancel waits for the run to record its `cancelled` row before answering."""


class RunEndedUnlogged(ClaraError):
    """The run ended without logging its last event; its record says how (`errorCode`)."""

    code = "run_interrupted"
    error = "Run interrupted"


class ExecutionNotFound(ClaraError):
    """No execution with this id is visible to these credentials."""

    code = "execution_not_found"
    status = 404
    error = "Execution not found"


class NoEventLog(ClaraError):
    """This run was executed synchronously, so no event log was kept; GET /api/executions/{id} has its trace."""

    code = "no_event_log"
    status = 404
    error = "No event log"


class RunFinished(ClaraError):
    """The run has already finished; there is nothing to cancel."""

    code = "run_finished"
    status = 409
    error = "Run already finished"


async def _replayed(events: list[event_queries.StoredEvent]) -> AsyncIterator[LoggedEvent]:
    for seq, name, data in events:
        yield LoggedEvent(seq, name, data.encode())


class RunResources:
    def __init__(
        self,
        database: Database,
        access: Access,
        executions: ExecutionService,
        detached: DetachedRuns,
        relay: RunRelay | None = None,
    ) -> None:
        self._database = database
        self._access = access
        self._executions = executions
        self._detached = detached
        self._relay = relay
        """Queue backend: readers of stored events are woken by the workers' notifications, not only polls."""

    async def get(self, execution_id: uuid.UUID, authorization: str | None, client_host: str | None) -> ExecutionRecord:
        caller = await self._access.caller(authorization, client_host)
        record = await self._find(execution_id)
        if record is None or (caller.principal is not None and caller.principal.deployment.id != record.deployment_id):
            raise ExecutionNotFound()
        return record

    async def events(
        self, execution_id: uuid.UUID, authorization: str | None, client_host: str | None, after: int
    ) -> AsyncIterator[LoggedEvent]:
        """The run's events after `after`, then live ones until its last; raises before the first if there is no log."""
        await self.get(execution_id, authorization, client_host)
        return await self.follow(execution_id, after)

    async def follow(self, execution_id: uuid.UUID, after: int) -> AsyncIterator[LoggedEvent]:
        """The events of a run known to exist (and to be the caller's), from memory or the database."""
        handle = self._detached.get(execution_id)
        if handle is not None:
            return handle.log.follow(after)
        async with self._database.read() as conn:
            if not await event_queries.has_events(conn, execution_id):
                sealed = await event_queries.sealed_log(conn, execution_id)
                if sealed is not None:
                    return _replayed(event_queries.events_in(sealed, after))
                if self._relay is None or not await run_queue.keeps_event_log(conn, execution_id):
                    raise NoEventLog()
        return self._stored_events(execution_id, after)

    async def cancel(
        self, execution_id: uuid.UUID, authorization: str | None, client_host: str | None
    ) -> ExecutionRecord:
        record = await self.get(execution_id, authorization, client_host)
        if record.status not in UNFINISHED:
            raise RunFinished(f"The run already finished with status '{record.status}'")
        run = self._executions.in_flight.get(execution_id)
        if run is None:
            return await self._cancel_elsewhere(record)
        if run.final:
            raise RunFinished(f"The run already finished with status '{run.status}'")
        run.interrupt(CANCEL_REQUESTED)
        if run.task is not None:
            await asyncio.wait((run.task,), timeout=_CANCEL_SETTLE_SECONDS)
        return await self._find(execution_id) or record

    async def _cancel_elsewhere(self, record: ExecutionRecord) -> ExecutionRecord:
        """Mark the run for the process that owns it, then wait a while for its `cancelled` row (a run
        whose process died is marked `interrupted` by the lease sweep instead)."""
        cancelled = await cancel_elsewhere(self._database, record.id, CANCEL_REQUESTED, queued=self._relay is not None)
        if cancelled is Cancelled.RECORDED:
            return await self._find(record.id) or record
        latest = await self._find(record.id) or record
        if cancelled is Cancelled.FINISHED:
            raise RunFinished(f"The run already finished with status '{latest.status}'")
        for _ in range(round(_CANCEL_SETTLE_SECONDS / POLL_SECONDS)):
            if latest.status not in UNFINISHED:
                break
            await asyncio.sleep(POLL_SECONDS)
            latest = await self._find(record.id) or latest
        return latest

    async def _find(self, execution_id: uuid.UUID) -> ExecutionRecord | None:
        async with self._database.read() as conn:
            return await execution_queries.find(conn, execution_id)

    async def _stored_events(self, execution_id: uuid.UUID, after: int) -> AsyncIterator[LoggedEvent]:
        """Stored events, polled while the run is unfinished, and for a short while after it finished (its
        last events are stored up to a flush interval after its row), until its last event. A run that
        ended before any chunk of its log was stored (a quick run a queue worker sealed) is replayed from
        its row. A run whose process died before storing its last event gets one said for it
        (`_ended_unseen`)."""
        grace = _LAST_EVENTS_POLLS
        with self._relay.watch(execution_id) if self._relay is not None else nullcontext() as changed:
            while True:
                async with self._database.read() as conn:
                    rows = await event_queries.events_after(conn, execution_id, after, _PAGE)
                for seq, name, data in rows:
                    after = seq
                    yield LoggedEvent(seq, name, data.encode())
                    if name in TERMINAL:
                        return
                if rows:
                    continue
                record = await self._find(execution_id)
                if record is None or record.status not in UNFINISHED:
                    async with self._database.read() as conn:
                        sealed = await event_queries.sealed_log(conn, execution_id)
                    if sealed is not None:
                        async for event in _replayed(event_queries.events_in(sealed, after)):
                            yield event
                        return
                    if grace == 0:
                        if record is not None and record.status != "success":
                            async for event in self._ended_unseen(record, after):
                                yield event
                        return
                    grace -= 1
                if self._relay is not None and changed is not None:
                    await self._relay.next_change(changed, POLL_SECONDS)
                else:
                    await asyncio.sleep(POLL_SECONDS)

    async def _ended_unseen(self, record: ExecutionRecord, after: int) -> AsyncIterator[LoggedEvent]:
        """The `run.failed` a run never logged (its process was killed, or lost the database): numbered
        after its stored events and built from its row, so a reader always learns how the run ended, and
        one that reconnects after it does not get it twice. (A successful run's row
        is not enough to render its answer; its `run.finished` is stored within a flush of the row.)"""
        async with self._database.read() as conn:
            seq = await event_queries.last_seq(conn, record.id) + 1
        if after >= seq:
            return
        ended = RunEndedUnlogged(record.error_message, details={"executionId": str(record.id)})
        envelope = {**ended.envelope(iso(record.finished_at) or ""), "code": record.error_code or ended.code}
        yield LoggedEvent(seq, RUN_FAILED, jsonio.dumps(envelope))
