"""Fan-out of 100 `llm` nodes against a loopback OpenAI-compatible server that answers after 100 ms.

    .venv-test/bin/python bench/llm_fanout.py [--nodes 100] [--delay 0.1] [--runs 7]

The flow is one input -> N llm nodes -> N outputs, run by the engine with the server's HTTP clients
(`default_http_clients()`, httpx2 clients sending over aiohttp). The fake server
(`tests/fakes/openai_server.py`) runs in its own process. The floor is N concurrent raw httpx2
requests with the same body to the same server through the same kind of client and transport,
measured in the same run: what any client of this stack needs when the server takes `delay` per
answer. The difference is the engine and the `llm` node's own work. Target: the whole run <= 150 ms
for 100 nodes at 100 ms (the original server runs them one after another: 10.4 s). Prints medians
over `--runs` after one warm-up run of each.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.execute_throughput import free_port
from bench.streaming import start_fake_openai
from clara_runner.flow.context import RunContext, ServiceEndpoints, default_http_clients
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.runner import run


def fan_out(nodes: int) -> dict[str, object]:
    flow_nodes: list[dict[str, object]] = [{"id": "in", "type": "input", "data": {"label": "Question"}}]
    connections: list[dict[str, str]] = []
    for index in range(nodes):
        flow_nodes.append({"id": f"llm-{index}", "type": "llm", "data": {"model": "fake", "maxRetries": 0}})
        flow_nodes.append({"id": f"out-{index}", "type": "output", "data": {"outputLabel": f"Answer {index}"}})
        connections.append({"source": "in", "target": f"llm-{index}", "targetHandle": "user"})
        connections.append({"source": f"llm-{index}", "target": f"out-{index}", "sourceHandle": "response"})
    return {"nodes": flow_nodes, "connections": connections}


@dataclass(frozen=True)
class Timing:
    wall_ms: float
    cpu_ms: float
    """CPU time of this process (the client side), which a busy machine inflates less than wall time."""


async def median_ms(action: Callable[[], Awaitable[object]], runs: int) -> Timing:
    await action()
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        await action()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return Timing(statistics.median(walls), statistics.median(cpus))


async def measure(base_url: str, nodes: int, runs: int) -> tuple[Timing, Timing]:
    plan = compile_flow(parse_flow(fan_out(nodes)), default_registry())
    http = default_http_clients()
    context = RunContext(services=ServiceEndpoints(openai_base_url=base_url), http=http)
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7, "max_tokens": 1000}

    async def engine() -> None:
        result = await run(plan, {"in": "hi"}, context)
        assert len(result.outputs) == nodes

    async def floor() -> None:
        replies = await asyncio.gather(
            *(http.workflow.post(f"{base_url}/chat/completions", json=body) for _ in range(nodes))
        )
        assert all(reply.status_code == 200 for reply in replies)

    try:
        floor_ms = await median_ms(floor, runs)
        engine_ms = await median_ms(engine, runs)
    finally:
        await http.aclose()
    return engine_ms, floor_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the server takes per answer")
    parser.add_argument("--runs", type=int, default=7)
    arguments = parser.parse_args()
    port = free_port()
    server = start_fake_openai(port, arguments.delay)
    try:
        engine, floor = asyncio.run(measure(f"http://127.0.0.1:{port}/v1", arguments.nodes, arguments.runs))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"fan-out of {arguments.nodes} llm nodes, server answering after {arguments.delay * 1000:.0f} ms")
    print(f"  engine run (median of {arguments.runs}):              {engine.wall_ms:7.1f} ms   target <= 150 ms")
    print(f"  floor: {arguments.nodes} concurrent raw httpx2 requests:  {floor.wall_ms:7.1f} ms")
    print(f"  ratio engine / floor: {engine.wall_ms / floor.wall_ms:.2f}")
    print(f"  client CPU per run: engine {engine.cpu_ms:.1f} ms, floor {floor.cpu_ms:.1f} ms")


if __name__ == "__main__":
    main()
