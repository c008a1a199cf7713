"""A queue backend worker's runs still going when its shutdown grace ends go back to the queue, where the
rules allow, instead of being recorded `interrupted`.

The rules are those for the runs of a dead worker (`recovery.py`, `run_queue.hand_back`): the deployment's
`retryPolicy` (`unstarted`, the default: only a run that had not started an outbound call; `always`;
`never`) and `QUEUE_MAX_ATTEMPTS`. A run handed back is already stopped (its task was cancelled, so no
outbound call can leave any more), and this process writes nothing of it from then on: its snapshot timer
is stopped and the snapshot already handed to the writer stored first (`RunRecord.let_go`), and its event
log is no longer stored (`EventRecorder.untrack`) before the requeue deletes the events stored so far.
Then one transaction puts the row back (`queued`, no owner), defers its new job and tells the replica
relaying it, whose caller keeps waiting for the worker that runs it next. A run that may not go back, or
cannot because the database does not answer, is recorded `interrupted` (`server_shutdown`) as before.
"""

from __future__ import annotations

import uuid

import structlog

from clara_runner.errors import DatabaseUnavailable
from clara_runner.service.execution.event_log import RunEventLog
from clara_runner.service.execution.event_recorder import EventRecorder
from clara_runner.service.execution.record import RunRecord
from clara_runner.service.execution.recovery import QueueRetry
from clara_runner.store import run_queue
from clara_runner.store.database import Database

log = structlog.get_logger(__name__)


class HandBackToQueue:
    """`ExecutionService.hand_back` of a worker."""

    def __init__(self, database: Database, recorder: EventRecorder, retry: QueueRetry, owner_id: uuid.UUID) -> None:
        self._database = database
        self._recorder = recorder
        self._retry = retry
        self._owner_id = owner_id

    async def __call__(self, run: RunRecord, events: RunEventLog | None) -> bool:
        tracked = events is not None and await self._recorder.untrack(events)
        try:
            handed_back = await run.let_go() and await self._requeue(run.execution_id)
        except DatabaseUnavailable:
            handed_back = False
        if events is not None and handed_back:
            events.drop()
        elif events is not None and tracked:
            self._recorder.track(events)
        log.info("run_handed_back" if handed_back else "run_not_handed_back", execution_id=str(run.execution_id))
        return handed_back

    async def _requeue(self, execution_id: uuid.UUID) -> bool:
        async with self._database.write() as conn:
            handed_back = await run_queue.hand_back(conn, execution_id, self._owner_id, self._retry.max_attempts)
            if handed_back:
                await self._retry.defer(conn, [execution_id])
                await run_queue.announce(conn, [execution_id])
        return handed_back
