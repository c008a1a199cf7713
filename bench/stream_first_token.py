"""Time to the first streamed token through the runner, next to the upstream model's own.

    .venv-test/bin/python bench/stream_first_token.py [--requests 200] [--delay 0.05] [--token-delay 0.01]
        [--database sqlite|postgresql] [--rounds 4]

An OpenAI-compatible model on 127.0.0.1 (the fake, `tests/fakes/openai_server.py`, in its own process)
answers after `--delay` (so a first token takes a time worth measuring, as a real model's does), then
streams a word every `--token-delay`. The runner (as `clara-runner serve` starts it, rate limit off)
serves `ask_flow()` (input -> llm -> output) with its `llm` node pointed at that model
(`OPENAI_API_BASE_URL`, `OPENAI_API_KEY`).

For each of `--requests` pairs, one after the other, in alternating order within the pair:

* **floor**: a raw streaming POST to the model's `/v1/chat/completions` with the body the `llm` node
  sends; the time from sending to the first chunk that carries text;
* **runner**: `POST /api/workflows/ask/execute` with `Accept: text/event-stream`; the time from sending
  to the first `llm.token` event. The stream is read to `run.finished`, which must report success.

Both go through the same client (one aiohttp session, the same SSE reader), so the difference is what
the runner adds before the first token: admission, the run's `running` row and `run.started` event, the
engine up to the node, the node's own request, and relaying the token. Printed:
p50 and p99 of both and of the paired difference, and the p50 difference of each of `--rounds` blocks
of consecutive pairs (the spread). Target: difference <= 5 ms at p50. Where the difference goes is
printed from the runner's own events as they arrive: until `run.started`, from it to the `llm` node's
`node.started`, and from there to the first token less the floor (the node's request and the relay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ask_flow

from bench.execute_throughput import database_urls, quiet_runner
from bench.loop_responsiveness import percentile
from bench.streaming import FAKE_KEY, Event, answer_of, chat_body, fake_openai, sse_events

QUESTION = "one two three four"
TARGET_MS = 5.0
WARM_UP = 10
"""Pairs sent first and not counted: the first run loads the node library, the first connections open."""


async def timed_events(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> list[tuple[float, Event]]:
    """Every event of the response, with the milliseconds from sending the request to its arrival."""
    started = time.perf_counter()
    events: list[tuple[float, Event]] = []
    async with session.post(url, data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        async for event in sse_events(response):
            events.append(((time.perf_counter() - started) * 1000, event))
    return events


def first_ms(events: list[tuple[float, Event]], accept: Callable[[Event], bool]) -> float:
    """When the first event `accept` takes arrived."""
    return next(arrived for arrived, event in events if accept(event))


def is_content_chunk(event: Event) -> bool:
    """A chat.completion.chunk with text (the first chunk only names the role)."""
    if event.data == "[DONE]":
        return False
    return any(choice["delta"].get("content") for choice in json.loads(event.data)["choices"])


def is_llm_token(event: Event) -> bool:
    return event.name == "llm.token"


def is_run_started(event: Event) -> bool:
    return event.name == "run.started"


def is_llm_started(event: Event) -> bool:
    return event.name == "node.started" and json.loads(event.data)["nodeId"] == "llm"


@dataclass
class Timings:
    """Milliseconds from sending, per measured pair."""

    floor: list[float] = field(default_factory=list)
    """The model's first content chunk, asked directly."""
    runner: list[float] = field(default_factory=list)
    """The runner's first `llm.token`."""
    run_started: list[float] = field(default_factory=list)
    """The runner's `run.started` (admitted, `running` row and first event stored)."""
    llm_started: list[float] = field(default_factory=list)
    """The runner's `node.started` of the `llm` node (the engine is about to call the model)."""


async def measure(model_url: str, execute_url: str, key: str, pairs: int) -> Timings:
    """The timings of `pairs` pairs after the warm-up, the pair's order alternating."""
    floor_body = json.dumps(chat_body(QUESTION)).encode()
    floor_headers = {"Authorization": f"Bearer {FAKE_KEY}", "Content-Type": "application/json"}
    runner_body = json.dumps({"question": QUESTION}).encode()
    runner_headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
    }

    async def floor(session: aiohttp.ClientSession) -> list[tuple[float, Event]]:
        return await timed_events(session, model_url, floor_body, floor_headers)

    async def runner(session: aiohttp.ClientSession) -> list[tuple[float, Event]]:
        events = await timed_events(session, execute_url, runner_body, runner_headers)
        last = events[-1][1]
        assert last.name == "run.finished", last
        assert json.loads(last.data)["outputs"] == {"answer": answer_of(QUESTION)}, last
        return events

    timings = Timings()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4)) as session:
        for index in range(WARM_UP + pairs):
            if index % 2:
                runner_events, floor_events = await runner(session), await floor(session)
            else:
                floor_events, runner_events = await floor(session), await runner(session)
            if index >= WARM_UP:
                timings.floor.append(first_ms(floor_events, is_content_chunk))
                timings.runner.append(first_ms(runner_events, is_llm_token))
                timings.run_started.append(first_ms(runner_events, is_run_started))
                timings.llm_started.append(first_ms(runner_events, is_llm_started))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="pairs (floor, runner) measured")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the model waits before answering")
    parser.add_argument("--token-delay", type=float, default=0.01, help="seconds between the model's chunks")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=4, help="blocks of pairs whose p50 differences are the spread")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        fake_openai(args.delay, args.token_delay) as (_, model_base),
        quiet_runner(
            folder,
            database_urls(args.database, Path(folder))[0],
            OPENAI_API_BASE_URL=model_base,
            OPENAI_API_KEY=FAKE_KEY,
        ) as (_, base),
    ):
        deployed = httpx2.post(f"{base}/api/deploy", json={"name": "Ask", "workflow": ask_flow()}).json()
        deployment = deployed["deployment"]
        timings = asyncio.run(
            measure(f"{model_base}/chat/completions", deployment["endpoint"], deployment["apiKey"], args.requests)
        )
    floors, runners = timings.floor, timings.runner
    differences = [runner - floor for floor, runner in zip(floors, runners, strict=True)]
    block = max(1, len(differences) // args.rounds)
    block_p50s = [statistics.median(differences[start : start + block]) for start in range(0, len(differences), block)]
    print(
        f"time to first streamed token, {args.requests} pairs (after {WARM_UP} not counted), model answering after "
        f"{args.delay * 1000:.0f} ms then a chunk every {args.token_delay * 1000:.0f} ms, {args.database}"
    )
    print(f"{'':<34} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'floor: the model, raw':<34} {statistics.median(floors):>8.2f} {percentile(floors, 0.99):>8.2f}")
    print(f"{'runner: execute, llm.token':<34} {statistics.median(runners):>8.2f} {percentile(runners, 0.99):>8.2f}")
    print(
        f"{'difference (pairwise)':<34} {statistics.median(differences):>8.2f} {percentile(differences, 0.99):>8.2f}"
        f"   blocks of {block}: p50 {min(block_p50s):.2f}-{max(block_p50s):.2f}; target p50 <= {TARGET_MS:.0f} ms"
    )
    print(f"ratio runner / floor at p50: {statistics.median(runners) / statistics.median(floors):.2f}")
    engine = [llm - run for run, llm in zip(timings.run_started, timings.llm_started, strict=True)]
    model = [token - llm - floor for floor, llm, token in zip(floors, timings.llm_started, runners, strict=True)]
    print(
        "where the difference goes (p50 ms): until run.started "
        f"{statistics.median(timings.run_started):.2f}; run.started to the llm node's node.started "
        f"{statistics.median(engine):.2f}; from there to the first token, minus the floor "
        f"{statistics.median(model):.2f}"
    )


if __name__ == "__main__":
    main()
