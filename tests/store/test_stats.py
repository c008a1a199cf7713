"""Statistics computed by the database agree with the rows on both databases: counts by status and group
exactly, over ranges on the hour (read from roll-ups) and ranges cutting hours (their ends read from the
rows), unfinished runs included; nearest-rank percentiles within the histogram's stated error."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from clara_runner.store import stats
from clara_runner.store.database import Database
from clara_runner.store.histogram import percentiles
from clara_runner.store.records import ExecutionWrite
from tests.store.stored_runs import final_run, stored_deployment, written
from tests.store.test_histogram import nearest_rank, within_bound

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
PERCENTS = (50, 95, 99)


def _runs(generator: random.Random, deployment_id: uuid.UUID, count: int, hours: int) -> list[ExecutionWrite]:
    return [
        final_run(
            deployment_id,
            START + timedelta(seconds=generator.randrange(hours * 3600)),
            ("success", "success", "error", "timeout", "running")[index % 5],
            generator.randint(1, 5000),
            first=True,
            output_mismatch=index % 7 == 0,
            prompt_tokens=index if index % 3 == 0 else None,
            completion_tokens=2 * index if index % 3 == 0 else None,
        )
        for index in range(count)
    ]


def _expected(runs: list[ExecutionWrite], start: datetime, end: datetime, bucket: str) -> dict[tuple[object, str], int]:
    found: dict[tuple[object, str], int] = {}
    for run in runs:
        if start <= run.created_at < end:
            moment = run.created_at.replace(minute=0, second=0, microsecond=0)
            key = (moment.replace(hour=0) if bucket == "day" else moment, run.status)
            found[key] = found.get(key, 0) + 1
    return found


def _durations(runs: list[ExecutionWrite], start: datetime, end: datetime) -> list[int]:
    return [run.duration_ms for run in runs if start <= run.created_at < end and run.duration_ms is not None]


async def _two_deployments(
    database: Database, generator: random.Random, first_runs: tuple[int, int], second_runs: tuple[int, int]
) -> tuple[uuid.UUID, uuid.UUID, list[ExecutionWrite]]:
    """Two deployments and their runs (how many, over how many hours from START), written by the writer."""
    async with database.write() as conn:
        first, second = await stored_deployment(conn, START), await stored_deployment(conn, START)
    runs = _runs(generator, first, *first_runs) + _runs(generator, second, *second_runs)
    await written(database, runs)
    return first, second, runs


async def test_counts_per_hour_day_deployment_and_in_total_equal_the_rows(database: Database) -> None:
    first, second, runs = await _two_deployments(database, random.Random(7), (400, 30), (50, 3))
    mine = [run for run in runs if run.deployment_id == first]
    ranges: list[tuple[datetime, datetime, stats.Grouping]] = [
        (START, START + timedelta(days=2), "hour"),
        (START, START + timedelta(days=2), "day"),
        (START + timedelta(minutes=30), START + timedelta(hours=2, minutes=15), "hour"),
        (START + timedelta(hours=3, minutes=10), START + timedelta(hours=3, minutes=50), "hour"),
        (START + timedelta(hours=5, seconds=1), START + timedelta(hours=29, minutes=59), "day"),
    ]
    async with database.read() as conn:
        for start, end, bucket in ranges:
            counts = await stats.status_counts(conn, [first], start, end, bucket)
            assert {(count.group, count.status): count.runs for count in counts} == _expected(mine, start, end, bucket)
            total = await stats.status_counts(conn, [first], start, end, "all")
            in_range = [run for run in mine if start <= run.created_at < end]
            assert sum(count.output_mismatches for count in total) == sum(run.output_mismatch for run in in_range)
            assert sum(count.prompt_tokens or 0 for count in total) == sum(run.prompt_tokens or 0 for run in in_range)
        per_deployment = await stats.status_counts(
            conn, [first, second], START, START + timedelta(days=2), "deployment"
        )
    assert {
        deployment: sum(count.runs for count in per_deployment if count.group == deployment)
        for deployment in (first, second)
    } == {first: 400, second: 50}


async def test_percentiles_are_within_the_stated_error_of_the_exact_ones(database: Database) -> None:
    first, second, runs = await _two_deployments(database, random.Random(11), (500, 4), (100, 4))
    mine = [run for run in runs if run.deployment_id == first]
    start, end = START + timedelta(minutes=20), START + timedelta(hours=3, minutes=40)
    async with database.read() as conn:
        hourly = await stats.duration_histograms(conn, [first], start, end, "hour")
        total = await stats.duration_histograms(conn, [first], start, end, "all")
        by_deployment = await stats.duration_histograms(conn, [first, second], start, end, "deployment")
    cases = [(total[None], start, end), (by_deployment[first], start, end)]
    cases += [
        (hourly[START + timedelta(hours=hour)], START + timedelta(hours=hour), START + timedelta(hours=hour + 1))
        for hour in (1, 2)
    ]
    cases.append((hourly[START], start, START + timedelta(hours=1)))
    for histogram, low, high in cases:
        exact = _durations(mine, max(low, start), min(high, end))
        found = percentiles(histogram, PERCENTS)
        assert found is not None
        assert sum(histogram.values()) == len(exact)
        for value, percent in zip(found, PERCENTS, strict=True):
            assert within_bound(value, nearest_rank(exact, percent)), (low, percent)


async def test_a_range_without_finished_runs_has_no_histogram(database: Database) -> None:
    async with database.write() as conn:
        deployment = await stored_deployment(conn, START)
    await written(database, [final_run(deployment, START, "running", first=True)])
    async with database.read() as conn:
        assert await stats.duration_histograms(conn, [deployment], START, START + timedelta(hours=1), "all") == {}
        counts = await stats.status_counts(conn, [deployment], START, START + timedelta(hours=1), "all")
    assert [(count.group, count.status, count.runs) for count in counts] == [(None, "running", 1)]


async def test_short_durations_are_exact(database: Database) -> None:
    durations = [7] * 10 + [9] * 9 + [400]
    async with database.write() as conn:
        deployment = await stored_deployment(conn, START)
    await written(
        database,
        [
            final_run(deployment, START + timedelta(seconds=index), "success", value, first=True)
            for index, value in enumerate(durations)
        ],
    )
    async with database.read() as conn:
        found = await stats.duration_histograms(conn, [deployment], START, START + timedelta(hours=1), "hour")
    p50, p95, p99 = percentiles(found[START], PERCENTS) or ()
    assert (p50, p95) == (7, 9)
    assert within_bound(p99, 400)
