"""The sandbox's worker processes: a fatal script or a killed worker fails one evaluation, the pool
replaces the worker, OS limits are in place, and no worker outlives its pool or its server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest

from clara_runner.flow.errors import NodeFailed
from clara_runner.flow.sandbox import JsSandbox, SandboxCrashed, SandboxLimits
from tests.flow.flows import edge, node, run_flow
from tests.sandbox_workers import alive, environment_names, resource_limits, survivors, worker_pids

FATAL_ALLOCATION = "new Array(2**30).fill(0).length > 0"
"""V8's heap limit does not stop this: the builtin grows the array inside one call until V8 aborts its
process with `Fatal JavaScript out of memory` (it took the whole server down when V8 ran in it). That
takes seconds, so the `sandbox` fixture's time limit is far above it."""


@pytest.fixture
async def sandbox() -> AsyncIterator[JsSandbox]:
    box = JsSandbox(SandboxLimits(timeout_seconds=120, memory_bytes=32 * 1024 * 1024, spare_isolates=1))
    yield box
    await box.aclose()


def gate(expression: str) -> dict[str, object]:
    return {
        "nodes": [
            node("n", "input", label="N"),
            node("check", "if-else", expression=expression),
            node("out", "output", outputLabel="Out"),
        ],
        "connections": [edge("n", "output", "check", "input"), edge("check", "output", "out", "input")],
    }


def custom(code: str) -> dict[str, object]:
    definition = {
        "type": "script",
        "name": "Script",
        "inputs": [{"id": "input", "name": "Input"}],
        "outputs": [{"id": "output", "name": "Output"}],
        "executionCode": code,
    }
    return {
        "nodes": [node("n", "input", label="N"), node("script", "script"), node("out", "output", outputLabel="Out")],
        "connections": [edge("n", "output", "script", "input"), edge("script", "output", "out", "input")],
        "customNodes": [definition],
    }


async def test_a_script_that_kills_v8_fails_its_node_alone_while_other_evaluations_go_on(sandbox: JsSandbox) -> None:
    await sandbox.warm()
    fatal = asyncio.create_task(run_flow(gate(FATAL_ALLOCATION), {"n": 1}, sandbox=sandbox))
    answered: list[object] = []
    while not fatal.done():
        answered.append((await sandbox.condition("input === 7", 7)).value)
        await asyncio.sleep(0.05)
    with pytest.raises(NodeFailed) as failed:
        await fatal
    assert failed.value.code == "sandbox_memory_exceeded"
    assert failed.value.reason.endswith("the script used more than 32 MB of memory and was stopped")
    assert answered
    assert set(answered) == {True}
    assert (await run_flow(custom("return inputs.input + 1"), {"n": 41}, sandbox=sandbox)).outputs == {"out": 42}


async def test_a_busy_loop_fails_at_the_sandbox_time_limit_not_at_the_run_deadline() -> None:
    box = JsSandbox(SandboxLimits(timeout_seconds=1, spare_isolates=0))
    started = time.monotonic()
    try:
        async with asyncio.timeout(60):
            with pytest.raises(NodeFailed) as failed:
                await run_flow(custom("while (true) {}"), {"n": 1}, sandbox=box)
    finally:
        await box.aclose()
    elapsed = time.monotonic() - started
    assert failed.value.code == "sandbox_timeout"
    assert failed.value.reason == "the script ran longer than 1000 ms and was stopped"
    assert 1 <= elapsed < 10


async def test_a_worker_killed_from_outside_fails_its_evaluation_and_is_replaced() -> None:
    box = JsSandbox(SandboxLimits(max_isolates=1, spare_isolates=1))
    try:
        await box.warm()
        [victim] = worker_pids(os.getpid())
        running = asyncio.create_task(box.run_node("while (true) {}", {}, {}))
        await asyncio.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(SandboxCrashed, match=r"stopped unexpectedly \(killed by SIGKILL\)"):
            await running
        assert (await box.condition("input === 'after'", "after")).value is True
        assert victim not in worker_pids(os.getpid())
    finally:
        await box.aclose()
    assert not alive(victim)


async def test_workers_run_under_os_limits_and_see_nothing_of_the_server_environment(
    sandbox: JsSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARA_CANARY", "server-secret")
    await sandbox.warm()
    [worker] = worker_pids(os.getpid())
    assert environment_names(worker) == ["PYTHONPATH"]
    limits = resource_limits(worker)
    assert limits["Max core file size"] == ("0", "0")
    assert limits["Max data size"][0] != "unlimited"
    assert limits["Max cpu time"][0] != "unlimited"


PARENT = """
import asyncio, sys
from clara_runner.flow.sandbox import JsSandbox, SandboxLimits

async def main():
    box = JsSandbox(SandboxLimits(spare_isolates=2))
    await box.warm()
    busy = asyncio.create_task(box.run_node("while (true) {}", {}, {}))
    await asyncio.sleep(0.5)
    print("running", flush=True)
    await busy

asyncio.run(main())
"""


@pytest.mark.parametrize("death", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
def test_no_worker_outlives_a_server_that_dies(death: signal.Signals) -> None:
    with subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            assert parent.stdout.readline() == "running\n"
            workers = worker_pids(parent.pid)
            assert len(workers) == 3
            parent.send_signal(death)
            assert parent.wait(timeout=10) == -death
        finally:
            parent.kill()
    assert survivors(workers, within_seconds=5) == set()


UNDER_ULIMIT_V = """
import asyncio, os, resource
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from clara_runner.flow.sandbox import JsSandbox, SandboxUnavailable
from tests.sandbox_workers import worker_pids

async def main():
    box = JsSandbox()
    await box.warm()
    for _ in range(2):
        try:
            await box.condition("true", None)
        except SandboxUnavailable as exc:
            print(exc.message, flush=True)
    await asyncio.sleep(0.5)
    print(f"workers: {len(worker_pids(os.getpid()))}", flush=True)
    await box.aclose()

asyncio.run(main())
"""


def test_workers_that_cannot_start_make_evaluations_fail_clearly_and_are_not_restarted_forever() -> None:
    """Under `ulimit -v` V8 cannot reserve its address space, so no worker can start."""
    with subprocess.Popen([sys.executable, "-c", UNDER_ULIMIT_V], stdout=subprocess.PIPE, text=True) as parent:
        output, _ = parent.communicate(timeout=60)
    unavailable = "the JavaScript sandbox is unavailable: a sandbox worker process did not start (killed by SIGTRAP)"
    assert output.splitlines() == [unavailable, unavailable, "workers: 0"]
    assert parent.returncode == 0
