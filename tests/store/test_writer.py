"""The execution writer on the real database: group commit, counters in the same transaction, final
statuses never replaced, outages buffered, spilled at shutdown and recovered by the next writer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from clara_runner.store import keys as key_queries
from clara_runner.store.database import Database
from clara_runner.store.executions import list_for_deployment
from clara_runner.store.records import ExecutionWrite
from clara_runner.store.tables import api_keys, deployments
from clara_runner.store.writer import BatchUnavailable, ExecutionWriter
from tests.store.stored_runs import stored_deployment

NOW = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)


async def _deployment(database: Database) -> tuple[uuid.UUID, uuid.UUID]:
    key_id = uuid.uuid4()
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, NOW)
        await key_queries.insert_key(
            conn,
            key_id=key_id,
            deployment_id=deployment_id,
            name="default",
            lookup_id=key_id.hex[:16],
            key_hash="0" * 64,
            display_prefix="clara_sk_x",
            now=NOW,
        )
    return deployment_id, key_id


def _row(
    deployment_id: uuid.UUID, key_id: uuid.UUID | None, status: str = "success", **changes: object
) -> ExecutionWrite:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "deployment_id": deployment_id,
        "version": 1,
        "api_key_id": key_id,
        "status": status,
        "inputs_json": '{"name":"Ada é"}',
        "outputs_json": '{"greeting":"Ada é"}' if status == "success" else None,
        "error_code": None,
        "error_message": None,
        "duration_ms": 3 if status != "running" else None,
        "nodes_executed": 2,
        "trace_json": '[{"nodeId":"in"}]',
        "created_at": NOW,
        "finished_at": NOW + timedelta(milliseconds=3) if status != "running" else None,
        "owner_id": None,
        **changes,
    }
    return ExecutionWrite(**values)  # type: ignore[arg-type]


def _tokens(count: int | None) -> dict[str, Any]:
    """Token counts of a run whose nodes reported `count` prompt tokens (None: no node reported usage)."""
    return {"prompt_tokens": count, "completion_tokens": None if count is None else 2 * count}


async def _counters(database: Database, deployment_id: uuid.UUID, key_id: uuid.UUID) -> tuple[int, int, object, object]:
    async with database.read() as conn:
        deployment = (await conn.execute(select(deployments).where(deployments.c.id == deployment_id))).mappings().one()
        key = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().one()
    return (
        deployment["execution_count"],
        deployment["output_schema_mismatches"],
        deployment["last_executed_at"],
        key["last_used_at"],
    )


async def test_concurrent_rows_are_committed_in_batches_and_read_back_as_written(database: Database) -> None:
    deployment_id, key_id = await _deployment(database)
    writer = ExecutionWriter(database.execution_batches())
    batches: list[int] = []
    writer.observers.append(batches.append)
    writer.start()
    rows = [
        _row(deployment_id, key_id, output_mismatch=index % 5 == 0, **_tokens(index if index % 2 else None))
        for index in range(40)
    ]
    try:
        assert await asyncio.gather(*(writer.write(row) for row in rows)) == [True] * 40
    finally:
        await writer.close(5)
    assert sum(batches) == 40
    assert len(batches) < 40, "concurrent rows share transactions"
    async with database.read() as conn:
        stored = await list_for_deployment(conn, deployment_id, limit=100, offset=0, status=None)
    assert {record.id for record in stored} == {row.id for row in rows}
    assert {record.id: (record.prompt_tokens, record.completion_tokens) for record in stored} == {
        row.id: (row.prompt_tokens, row.completion_tokens) for row in rows
    }
    record = stored[0]
    assert record.outputs == {"greeting": "Ada é"}
    assert record.trace == [{"nodeId": "in"}]
    assert record.created_at == NOW
    assert record.finished_at == NOW + timedelta(milliseconds=3)
    assert record.api_key_id == key_id
    assert await _counters(database, deployment_id, key_id) == (
        40,
        8,
        NOW + timedelta(milliseconds=3),
        NOW + timedelta(milliseconds=3),
    )


async def test_a_final_status_is_never_replaced_and_is_counted_once(database: Database) -> None:
    deployment_id, key_id = await _deployment(database)
    writer = ExecutionWriter(database.execution_batches())
    writer.start()
    running = _row(deployment_id, key_id, "running")
    finished = _row(deployment_id, key_id, id=running.id, duration_ms=9)
    late = _row(deployment_id, key_id, "running", id=running.id)
    try:
        assert await writer.write(running)
        assert (await _counters(database, deployment_id, key_id))[0] == 0, "an unfinished run is not counted"
        assert await writer.write(finished)
        assert await writer.write(late)
        assert await writer.write(_row(deployment_id, key_id, "error", id=running.id))
    finally:
        await writer.close(5)
    async with database.read() as conn:
        (stored,) = await list_for_deployment(conn, deployment_id, limit=10, offset=0, status=None)
    assert (stored.status, stored.duration_ms) == ("success", 9)
    assert (await _counters(database, deployment_id, key_id))[0] == 1


class _Outage:
    """A batch store that fails while `down` is set, then passes batches on."""

    def __init__(self, database: Database) -> None:
        self.inner = database.execution_batches()
        self.down = True

    async def write(self, rows: Sequence[ExecutionWrite]) -> None:
        if self.down:
            raise BatchUnavailable("down")
        await self.inner.write(rows)

    async def ping(self) -> None:
        if self.down:
            raise BatchUnavailable("down")

    async def close(self) -> None:
        await self.inner.close()


async def test_rows_wait_in_memory_while_the_database_is_down_and_are_written_when_it_returns(
    database: Database,
) -> None:
    deployment_id, key_id = await _deployment(database)
    outage = _Outage(database)
    writer = ExecutionWriter(outage, retry_seconds=0.05)
    writer.start()
    try:
        assert await writer.write(_row(deployment_id, key_id)) is False
        assert not writer.accepting
        assert await writer.write(_row(deployment_id, key_id)) is False, "answered at once while down"
        outage.down = False
        for _ in range(100):
            if writer.accepting and writer.backlog == 0:
                break
            await asyncio.sleep(0.05)
        assert writer.accepting
    finally:
        await writer.close(5)
    assert (await _counters(database, deployment_id, key_id))[0] == 2


async def test_rows_still_unwritten_at_shutdown_are_spilled_and_written_by_the_next_writer(
    database: Database, tmp_path: Path
) -> None:
    deployment_id, key_id = await _deployment(database)
    outage = _Outage(database)
    spill = tmp_path / "spill"
    writer = ExecutionWriter(outage, spill_dir=spill, retry_seconds=0.05)
    writer.start()
    rows = [_row(deployment_id, key_id, **_tokens(index)) for index in range(3)]
    for row in rows:
        assert await writer.write(row) is False
    await writer.close(0.2)
    assert len(list(spill.glob("executions-*.jsonl"))) == 1
    assert (await _counters(database, deployment_id, key_id))[0] == 0

    successor = ExecutionWriter(database.execution_batches(), spill_dir=spill)
    successor.start()
    await successor.close(5)
    assert list(spill.iterdir()) == []
    async with database.read() as conn:
        stored = await list_for_deployment(conn, deployment_id, limit=10, offset=0, status=None)
    assert {record.id: record.prompt_tokens for record in stored} == {row.id: row.prompt_tokens for row in rows}
    assert (await _counters(database, deployment_id, key_id))[0] == 3


async def test_a_row_the_database_refuses_is_kept_without_its_payload_and_its_batch_is_written(
    database: Database,
) -> None:
    deployment_id, key_id = await _deployment(database)
    writer = ExecutionWriter(database.execution_batches())
    writer.start()
    good = _row(deployment_id, key_id)
    bad = _row(deployment_id, key_id, outputs_json='{"nul": "\\u0000"}', duration_ms=2**70)
    try:
        assert list(await asyncio.gather(writer.write(good), writer.write(bad))) == [True, True]
    finally:
        await writer.close(5)
    async with database.read() as conn:
        stored = {
            record.id: record
            for record in await list_for_deployment(conn, deployment_id, limit=10, offset=0, status=None)
        }
    assert stored[good.id].outputs == {"greeting": "Ada é"}
    assert stored[bad.id].status == "error"
    assert stored[bad.id].error_code == "record_unstorable"
    assert stored[bad.id].outputs is None


class _Slow:
    """A batch store whose writes wait until `release` is set."""

    def __init__(self, database: Database) -> None:
        self.inner = database.execution_batches()
        self.release = asyncio.Event()

    async def write(self, rows: Sequence[ExecutionWrite]) -> None:
        await self.release.wait()
        await self.inner.write(rows)

    async def ping(self) -> None:
        """Always answers."""

    async def close(self) -> None:
        await self.inner.close()


async def test_a_writer_that_falls_behind_stops_accepting_new_runs_until_it_catches_up(database: Database) -> None:
    deployment_id, key_id = await _deployment(database)
    slow = _Slow(database)
    writer = ExecutionWriter(slow, buffer_limit=3)
    writer.start()
    try:
        in_flight = writer.submit(_row(deployment_id, key_id))
        await asyncio.sleep(0.05)
        assert writer.backlog == 0, "the first batch is being written"
        waiting = [writer.submit(_row(deployment_id, key_id)) for _ in range(3)]
        assert writer.reachable
        assert not writer.accepting, "three rows wait: the buffer is full"
        slow.release.set()
        assert await in_flight
        assert await asyncio.gather(*waiting) == [True, True, True]
        assert writer.accepting
    finally:
        await writer.close(5)
    assert (await _counters(database, deployment_id, key_id))[0] == 4
