"""1,000 streamed runs open at once in one server process, next to a bare relay holding as many.

    .venv-test/bin/python bench/open_streams.py [--streams 1000] [--words 20] [--token-delay 0.5] [--rounds 2]
        [--database sqlite|postgresql]

An OpenAI-compatible model on 127.0.0.1 (the fake, in its own process) streams its answer slowly: the
question has `--words` words, the answer (`echo: ...`) one more, one word every `--token-delay`
seconds (about 10 s in all). The runner (as `clara-runner serve` starts it: one process; rate limit
off, `MAX_CONCURRENT_EXECUTIONS`, `MAX_QUEUED_EXECUTIONS` and `MAX_CONNECTIONS` above the stream count)
serves `ask_flow()` pointed at that model. `--streams` clients connect at once with
`POST /api/workflows/ask/execute` and `Accept: text/event-stream` (one aiohttp session, no connection
limit), and read their streams to the end.

The floor (`relay_floor_app.py`, uvicorn with the same settings: one worker, uvloop, httptools) holds
as many Server-Sent Events streams relaying the same model's tokens through one aiohttp session, with
`run.started` first and `run.finished` last, and nothing else: no database, no engine.

Each round loads the floor, then the runner (both started at the start). Reported per load: streams
fully served (every one ended with `run.finished`, its tokens joined equal to the model's answer), the
time until every stream had its first event, the longest stream, the server's RSS idle before the load,
when all streams are open, and at its highest, the RSS per open stream, and the server's CPU over the
load (`/proc/<pid>/stat`). The open-file limit of this process (and so of the servers it starts) is
raised to its hard limit. Target: all streams served.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ask_flow

from bench.execute_throughput import cpu_seconds, database_urls, free_port, quiet_runner, uvicorn_server
from bench.streaming import FAKE_KEY, answer_of, fake_openai, raise_open_files_limit, rss_kib, sse_events

PHASE_SECONDS = 180.0
"""A load that has not ended by then is abandoned (its streams count as not served)."""


@dataclass(frozen=True)
class Load:
    served: int
    outcomes: Counter[str]
    open_all_s: float
    longest_s: float
    rss_idle_kib: int
    rss_open_kib: int
    rss_max_kib: int
    cpu_s: float


async def one_stream(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    answer: str,
    opened: asyncio.Queue[float],
) -> str:
    """Read one stream to its end; returns `served` or what went wrong. Puts the time of its first event on `opened`."""
    tokens: list[str] = []
    last = ""
    first = True
    try:
        async with session.post(url, data=body, headers=headers) as response:
            if response.status != 200:
                opened.put_nowait(float("nan"))
                return f"status {response.status}"
            async for event in sse_events(response):
                if first:
                    opened.put_nowait(time.perf_counter())
                    first = False
                last = event.name
                if event.name == "llm.token":
                    tokens.append(json.loads(event.data)["delta"])
    except (aiohttp.ClientError, TimeoutError) as exc:
        if first:
            opened.put_nowait(float("nan"))
        return type(exc).__name__
    if first:
        opened.put_nowait(float("nan"))
    if last != "run.finished":
        return f"ended with {last or 'nothing'}"
    return "served" if "".join(tokens) == answer else "wrong tokens"


async def load(url: str, headers: dict[str, str], question: str, streams: int, pid: int) -> Load:
    """`streams` streams at once against the server `pid` serving `url`."""
    body = json.dumps({"question": question}).encode()
    headers = {**headers, "Content-Type": "application/json", "Accept": "text/event-stream"}
    opened: asyncio.Queue[float] = asyncio.Queue()
    rss_idle, cpu_before = rss_kib(pid), cpu_seconds(pid)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(one_stream(session, url, body, headers, answer_of(question), opened))
            for _ in range(streams)
        ]
        firsts = [await opened.get() for _ in range(streams)]
        open_all = max((moment for moment in firsts if moment == moment), default=started) - started
        rss_open = rss_max = rss_kib(pid)
        everything = asyncio.gather(*tasks)
        while not everything.done() and time.perf_counter() - started < PHASE_SECONDS:
            await asyncio.wait((everything,), timeout=0.25)
            rss_max = max(rss_max, rss_kib(pid))
        longest = time.perf_counter() - started
        if not everything.done():
            everything.cancel()
            with suppress(asyncio.CancelledError):
                await everything
        outcomes = Counter(task.result() if not task.cancelled() else "abandoned" for task in tasks)
    return Load(
        served=outcomes["served"],
        outcomes=outcomes,
        open_all_s=open_all,
        longest_s=longest,
        rss_idle_kib=rss_idle,
        rss_open_kib=rss_open,
        rss_max_kib=rss_max,
        cpu_s=cpu_seconds(pid) - cpu_before,
    )


def report(name: str, measured: Load, streams: int) -> None:
    per_stream = (measured.rss_open_kib - measured.rss_idle_kib) / streams
    others = ", ".join(f"{outcome}: {count}" for outcome, count in measured.outcomes.items() if outcome != "served")
    print(
        f"{name:<8} {measured.served:>5}/{streams:<5} {measured.open_all_s:>7.2f} {measured.longest_s:>8.2f} "
        f"{measured.rss_idle_kib / 1024:>8.1f} {measured.rss_open_kib / 1024:>8.1f} "
        f"{measured.rss_max_kib / 1024:>8.1f} "
        f"{per_stream:>9.1f} {measured.cpu_s:>7.2f} {measured.cpu_s * 1000 / streams:>8.2f}  {others}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--words", type=int, default=20, help="words of the question; the answer has one more")
    parser.add_argument("--token-delay", type=float, default=0.5, help="seconds between the model's words")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    files = raise_open_files_limit()
    if files < 3 * args.streams + 200:
        sys.exit(f"the open-file limit ({files}) is too low for {args.streams} streams: raise `ulimit -Hn`")
    question = " ".join(f"word{index}" for index in range(args.words))
    capacity = {
        "MAX_CONCURRENT_EXECUTIONS": str(args.streams + 100),
        "MAX_QUEUED_EXECUTIONS": str(args.streams + 100),
        "MAX_CONNECTIONS": str(2 * args.streams + 100),
    }
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        _, model_base = stack.enter_context(fake_openai(0.0, args.token_delay))
        runner_settings = {"OPENAI_API_BASE_URL": model_base, "OPENAI_API_KEY": FAKE_KEY, **capacity}
        database = database_urls(args.database, Path(folder))[0]
        runner, base = stack.enter_context(quiet_runner(folder, database, **runner_settings))
        floor_port = free_port()
        floor = stack.enter_context(
            uvicorn_server("bench.relay_floor_app:create_relay_app", {"UPSTREAM_URL": model_base}, floor_port)
        )
        deployment = httpx2.post(f"{base}/api/deploy", json={"name": "Ask", "workflow": ask_flow()}).json()[
            "deployment"
        ]
        targets = [
            ("floor", f"http://127.0.0.1:{floor_port}/relay", {}, floor.pid),
            ("runner", deployment["endpoint"], {"Authorization": f"Bearer {deployment['apiKey']}"}, runner.pid),
        ]
        print(
            f"{args.streams} streams at once, each {args.words + 1} tokens {args.token_delay} s apart; "
            f"{args.rounds} rounds, floor then runner; {args.database}; RSS in MiB, per stream in KiB"
        )
        print(
            f"{'server':<8} {'served':>11} {'open s':>7} {'longest':>8} {'RSS idle':>8} {'RSS open':>8} "
            f"{'RSS max':>8} {'KiB/strm':>9} {'CPU s':>7} {'ms/strm':>8}"
        )
        for _ in range(args.rounds):
            for name, url, headers, pid in targets:
                report(name, asyncio.run(load(url, headers, question, args.streams, pid)), args.streams)
    print("target: every stream served")


if __name__ == "__main__":
    main()
