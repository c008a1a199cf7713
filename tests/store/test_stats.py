"""Statistics computed by the database agree with the definition on both databases: counts by status and
group, and nearest-rank percentiles (the smallest duration with at least p% of the runs at or below it)."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from clara_runner.store import stats
from clara_runner.store.database import Database
from clara_runner.store.executions import insert_execution
from clara_runner.store.records import ExecutionRecord
from tests.store.stored_runs import stored_deployment

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _run(deployment_id: uuid.UUID, created_at: datetime, status: str, duration_ms: int | None) -> ExecutionRecord:
    return ExecutionRecord(
        id=uuid.uuid4(),
        deployment_id=deployment_id,
        version=1,
        api_key_id=None,
        status=status,
        inputs={},
        outputs=None,
        error_code=None,
        error_message=None,
        duration_ms=duration_ms,
        nodes_executed=1,
        trace=None,
        created_at=created_at,
        finished_at=None if status == "running" else created_at,
    )


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


async def test_counts_and_percentiles_per_hour_day_deployment_and_in_total(database: Database) -> None:
    generator = random.Random(7)
    async with database.write() as conn:
        first, second = await stored_deployment(conn, START), await stored_deployment(conn, START)
        runs: list[ExecutionRecord] = []
        for index in range(157):
            hour = index % 3
            status = ("success", "success", "error", "timeout")[index % 4]
            runs.append(_run(first, START + timedelta(hours=hour, seconds=index), status, generator.randint(1, 5000)))
        runs.append(_run(first, START + timedelta(hours=1), "running", None))
        runs.append(_run(first, START + timedelta(days=2), "success", 1))
        runs.extend(_run(second, START + timedelta(minutes=n), "success", 10 * n) for n in range(1, 21))
        for run in runs:
            await insert_execution(conn, run)

    end = START + timedelta(days=1)
    async with database.read() as conn:
        hourly = await stats.status_counts(conn, [first], START, end, "hour")
        hourly_durations = await stats.duration_percentiles(conn, [first], START, end, "hour")
        total = await stats.duration_percentiles(conn, [first], START, end, "all")
        daily = await stats.status_counts(conn, [first], START, START + timedelta(days=3), "day")
        by_deployment = await stats.duration_percentiles(conn, [first, second], START, end, "deployment")

    in_range = [run for run in runs if run.deployment_id == first and run.created_at < end]
    expected_counts: dict[tuple[str, str], int] = {}
    for run in in_range:
        key = (run.created_at.strftime("%Y-%m-%d %H"), run.status)
        expected_counts[key] = expected_counts.get(key, 0) + 1
    assert {(count.group, count.status): count.runs for count in hourly} == expected_counts
    for hour in range(3):
        durations = [
            run.duration_ms
            for run in in_range
            if run.created_at.hour == hour and run.duration_ms is not None and run.status != "running"
        ]
        bucket = (START + timedelta(hours=hour)).strftime("%Y-%m-%d %H")
        assert hourly_durations[bucket] == tuple(nearest_rank(durations, p) for p in (50, 95, 99))
    finished = [run.duration_ms for run in in_range if run.duration_ms is not None]
    assert total == {None: tuple(nearest_rank(finished, p) for p in (50, 95, 99))}
    assert {(count.group, count.status): count.runs for count in daily if count.status == "success"} == {
        ("2026-12-01", "success"): sum(run.status == "success" for run in in_range),
        ("2026-12-03", "success"): 1,
    }
    assert by_deployment[second] == (100, 190, 200)
    assert by_deployment[first] == total[None]


async def test_a_range_without_finished_runs_has_no_percentiles(database: Database) -> None:
    async with database.write() as conn:
        deployment = await stored_deployment(conn, START)
        await insert_execution(conn, _run(deployment, START, "running", None))
    async with database.read() as conn:
        assert await stats.duration_percentiles(conn, [deployment], START, START + timedelta(hours=1), "all") == {}
        counts = await stats.status_counts(conn, [deployment], START, START + timedelta(hours=1), "all")
    assert [(count.group, count.status, count.runs) for count in counts] == [(None, "running", 1)]
