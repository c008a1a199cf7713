"""A run stopped at the end of the shutdown grace that its process hands back (a queue backend worker) ends
in `HandedBack` with no final row written; one it does not hand back is recorded `interrupted` as before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from clara_runner.service.execution.admission import ShuttingDown
from clara_runner.service.execution.event_log import RunEventLog
from clara_runner.service.execution.record import RunRecord
from clara_runner.service.execution.runs import SERVER_SHUTDOWN, HandedBack
from clara_runner.store.tables import executions
from tests.apps import GATED_WORKFLOW, gated_app, runtime_of, serving, wait_until
from tests.support import bearer, deploy, make_settings


@pytest.mark.parametrize("handed_back", [True, False])
async def test_a_run_stopped_at_shutdown_is_handed_back_unrecorded_or_recorded_interrupted(
    database_url: str, tmp_path: Path, handed_back: bool
) -> None:
    app, gate = gated_app(make_settings(database_url, tmp_path / "data", RUN_RECORD_AFTER_MS="0"))
    async with serving(app) as client:
        key = (await deploy(client, GATED_WORKFLOW, name="Gated"))["apiKey"]
        runtime = runtime_of(app)
        offered: list[RunRecord] = []

        async def hand_back(run: RunRecord, _log: RunEventLog | None) -> bool:
            offered.append(run)
            return handed_back and await run.let_go()

        runtime.executions.hand_back = hand_back

        async def body() -> bytes:
            return b'{"name": "Ada"}'

        running = asyncio.create_task(
            runtime.executions.execute("gated", bearer(key)["Authorization"], body, "application/json")
        )
        await gate.wait_inside(1)
        await wait_until(lambda: runtime.writer.backlog == 0)
        runtime.executions.in_flight.interrupt_all(SERVER_SHUTDOWN)
        with pytest.raises(HandedBack if handed_back else ShuttingDown):
            await running
        await wait_until(lambda: runtime.writer.backlog == 0)
        async with runtime.database.read() as conn:
            statuses = list((await conn.execute(select(executions.c.status, executions.c.error_code))).all())
    assert len(offered) == 1
    assert statuses == ([("running", None)] if handed_back else [("interrupted", SERVER_SHUTDOWN)])
