"""The relay channel of the queue backend, chosen by measurement: PostgreSQL LISTEN/NOTIFY or Redis pub/sub.

    .venv-test/bin/python bench/relay_channel.py [--messages 2000] [--rounds 3]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--redis redis://127.0.0.1:6379/4]

A worker tells the web replica relaying a run that it changed; the replica wakes and reads. What the
channel adds is the time from the publish to the listener's wake-up. For each channel, `--messages`
publishes one after the other, each from its own connection as a worker's would be, and each waited for
by a listener on another connection: the time from sending the publish to the listener receiving it.
PostgreSQL's NOTIFY is sent as the server sends it, `SELECT pg_notify(...)` in an autocommit transaction
(a worker's notification rides on the transaction that stores the change; that commit is paid either
way, so it is left out). The **floor** is the round trip of `SELECT 1` on the same PostgreSQL server: one
message there and back, with nothing to deliver to a third party. Printed per round: p50 and p99 of each
channel, and the ratio of each channel's p50 to the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import psycopg
import redis.asyncio as aioredis

CHANNEL = "clara_bench_relay"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed(count: int, once: Callable[[int], Awaitable[None]]) -> list[float]:
    times = []
    for index in range(count):
        began = time.perf_counter()
        await once(index)
        times.append((time.perf_counter() - began) * 1000)
    return times


async def postgres_notify(url: str, count: int) -> list[float]:
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as publisher,
    ):
        await listener.execute(f"LISTEN {CHANNEL}")
        received: asyncio.Queue[str] = asyncio.Queue()

        async def listen() -> None:
            async for notice in listener.notifies():
                received.put_nowait(notice.payload)

        reader = asyncio.create_task(listen())

        async def once(index: int) -> None:
            await publisher.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(index)))
            assert await received.get() == str(index)

        try:
            return await timed(count, once)
        finally:
            reader.cancel()


async def redis_publish(url: str, count: int) -> list[float]:
    client = aioredis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    await pubsub.get_message(timeout=1.0)
    publisher = aioredis.from_url(url)

    async def once(index: int) -> None:
        await publisher.publish(CHANNEL, str(index))
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            if message is not None:
                assert message["data"] == str(index).encode()
                return

    try:
        return await timed(count, once)
    finally:
        await pubsub.aclose()
        await client.aclose()
        await publisher.aclose()


async def postgres_floor(url: str, count: int) -> list[float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:

        async def once(_: int) -> None:
            await conn.execute("SELECT 1")

        return await timed(count, once)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/4")
    args = parser.parse_args()
    print(f"{args.messages} messages per channel, {args.rounds} rounds (ms)")
    print("round | floor SELECT 1 p50 | NOTIFY p50 / p99 | ratio | Redis pub/sub p50 / p99 | ratio")
    ratios: dict[str, list[float]] = {"notify": [], "redis": []}
    for round_number in range(1, args.rounds + 1):
        floor = await postgres_floor(args.postgres, args.messages)
        notify = await postgres_notify(args.postgres, args.messages)
        pubsub = await redis_publish(args.redis, args.messages)
        floor_p50 = statistics.median(floor)
        ratios["notify"].append(statistics.median(notify) / floor_p50)
        ratios["redis"].append(statistics.median(pubsub) / floor_p50)
        print(
            f"{round_number} | {floor_p50:.3f} | {statistics.median(notify):.3f} / {percentile(notify, 0.99):.3f}"
            f" | {ratios['notify'][-1]:.2f} | {statistics.median(pubsub):.3f} / {percentile(pubsub, 0.99):.3f}"
            f" | {ratios['redis'][-1]:.2f}"
        )
    for name, values in ratios.items():
        print(f"{name}: ratio to floor {statistics.median(values):.2f} (spread {min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
