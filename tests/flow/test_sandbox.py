"""The JavaScript sandbox: isolation from the server, limits, and runaway scripts failing alone.

The worker processes themselves (fatal scripts, kills from outside, orphans) are tested in
`test_sandbox_workers.py`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from clara_runner.flow.sandbox import (
    JsSandbox,
    SandboxClosed,
    SandboxLimits,
    ScriptError,
    ScriptOutOfMemory,
    ScriptTimedOut,
)
from clara_runner.flow.sandbox_fetch import client_fetch
from tests.flow.loopback import EchoServer
from tests.sandbox_workers import StartedWorkers, survivors

ALLOCATION_BOMB = "const kept = []; while (true) { kept.push(new Array(100000).fill('x')); }"


@pytest.fixture
async def sandbox() -> AsyncIterator[JsSandbox]:
    box = JsSandbox(SandboxLimits(timeout_seconds=20, memory_bytes=32 * 1024 * 1024))
    yield box
    await box.aclose()


async def assert_usable_then_stopped(box: JsSandbox, started: StartedWorkers) -> None:
    """What a caller sees after a script was stopped or cancelled: the next evaluation runs normally; after
    `aclose`, evaluations are refused and no worker process the sandbox started is left running."""
    assert (await box.condition("input === 'next'", "next")).value is True
    workers = started.alive()
    await box.aclose()
    with pytest.raises(SandboxClosed):
        await box.condition("true", None)
    assert survivors(workers | started.alive(), within_seconds=5) == set()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


async def test_execute_receives_inputs_and_properties_and_returns_a_json_value(sandbox: JsSandbox) -> None:
    code = "async function execute(inputs, properties, context) { return {sum: inputs.a + properties.b, none: null} }"
    result = await sandbox.run_node(code, {"a": 2}, {"b": 40})
    assert result.value == {"sum": 42, "none": None}


async def test_top_level_return_works_like_studio_new_function(sandbox: JsSandbox) -> None:
    result = await sandbox.run_node("return inputs.text + '!'", {"text": "hi"}, {})
    assert result.value == "hi!"


async def test_the_server_process_environment_and_files_are_unreachable(sandbox: JsSandbox) -> None:
    names = ["process", "require", "module", "Deno", "Bun", "os", "std", "read", "load", "environment"]
    code = f"return Object.fromEntries({json.dumps(names)}.map((name) => [name, typeof globalThis[name]]))"
    result = await sandbox.run_node(code, {}, {})
    assert result.value == dict.fromkeys(names, "undefined")
    with pytest.raises(ScriptError):
        await sandbox.run_node("return await import('fs')", {}, {})
    with pytest.raises(ScriptError, match="ReferenceError: process is not defined"):
        await sandbox.run_node("return process.env", {}, {})


async def test_buffers_outside_the_heap_limit_are_removed_but_timers_still_work(sandbox: JsSandbox) -> None:
    code = """
      const removed = ['ArrayBuffer', 'SharedArrayBuffer', 'Uint8Array', 'Float64Array', 'DataView', 'Atomics',
                       'WebAssembly'].filter((name) => typeof globalThis[name] !== 'undefined');
      const waited = await new Promise((resolve) => setTimeout(resolve, 5, 'done'));
      return {removed, waited};
    """
    result = await sandbox.run_node(code, {}, {})
    assert result.value == {"removed": [], "waited": "done"}


async def test_no_state_survives_from_one_evaluation_to_the_next(sandbox: JsSandbox) -> None:
    await sandbox.run_node("globalThis.secret = inputs.s; JSON.parse = () => 'hijacked'; return 1", {"s": "k"}, {})
    result = await sandbox.run_node("return [typeof secret, JSON.parse('[1]')]", {}, {})
    assert result.value == ["undefined", [1]]


async def test_scripts_that_tamper_with_built_ins_cannot_forge_or_break_the_result(sandbox: JsSandbox) -> None:
    patched = await sandbox.run_node('JSON.stringify = () => \'{"ok":true,"value":"forged"}\'; return 1', {}, {})
    assert patched.value == 1
    with pytest.raises(ScriptError, match="altered the sandbox's built-ins"):
        await sandbox.run_node("Object.prototype.toJSON = () => 5; return 1", {}, {})


async def test_a_thrown_error_is_reported_with_its_message_and_the_logs_so_far(sandbox: JsSandbox) -> None:
    code = "context.log('step', 1); console.warn({at: 'end'}); throw new Error('the input is empty')"
    with pytest.raises(ScriptError) as raised:
        await sandbox.run_node(code, {}, {})
    assert raised.value.message == "the input is empty"
    assert raised.value.logs == (("log", "step 1"), ("warn", '{"at":"end"}'))


async def test_syntax_errors_and_unserialisable_results_are_script_errors(sandbox: JsSandbox) -> None:
    with pytest.raises(ScriptError, match=r"^SyntaxError"):
        await sandbox.run_node("function execute( {", {}, {})
    with pytest.raises(ScriptError, match="cannot be converted to JSON"):
        await sandbox.run_node("return 10n", {}, {})
    with pytest.raises(ScriptError, match="must define async function execute"):
        await sandbox.run_node("const x = 1", {}, {})


RUNAWAYS = {
    "in the script body": "while (true) {}",
    "after an await": "await new Promise((resolve) => setTimeout(resolve, 1)); while (true) {}",
    "in a timer after returning": "setTimeout(() => { while (true) {} }, 0); return 1",
    "while a fetch is answered": "fetch(inputs.url); while (true) {}",
    "after a fetch": "await fetch(inputs.url); while (true) {}",
}


@pytest.mark.parametrize("code", RUNAWAYS.values(), ids=RUNAWAYS.keys())
async def test_a_runaway_loop_is_stopped_at_the_time_limit_without_blocking_the_event_loop(
    code: str, echo: EchoServer
) -> None:
    started = StartedWorkers()
    box = JsSandbox(SandboxLimits(timeout_seconds=2, spare_isolates=0))
    async with httpx2.AsyncClient() as client:
        runaway = asyncio.create_task(box.run_node(code, {"url": echo.url}, {}, client_fetch(client, 1024)))
        try:
            await asyncio.sleep(0.05)
            assert (await box.condition("input > 1", 2)).value is True
            assert not runaway.done()
        finally:
            with pytest.raises(ScriptTimedOut, match="ran longer than 2000 ms") as stopped:
                await runaway
            await assert_usable_then_stopped(box, started)
    assert stopped.value.code == "sandbox_timeout"


async def test_an_allocation_bomb_is_stopped_at_the_memory_limit(sandbox: JsSandbox) -> None:
    with pytest.raises(ScriptOutOfMemory, match="more than 32 MB of memory") as stopped:
        await sandbox.run_node(ALLOCATION_BOMB, {}, {})
    assert stopped.value.code == "sandbox_memory_exceeded"


async def test_an_allocation_bomb_after_an_await_is_stopped_by_memory_not_by_time(sandbox: JsSandbox) -> None:
    code = "await new Promise((resolve) => setTimeout(resolve, 1));" + ALLOCATION_BOMB
    with pytest.raises(ScriptOutOfMemory, match="more than 32 MB of memory"):
        await sandbox.run_node(code, {}, {})


async def test_a_runaway_script_does_not_block_other_evaluations_and_can_be_cancelled() -> None:
    started = StartedWorkers()
    sandbox = JsSandbox(SandboxLimits(spare_isolates=0))
    runaway = asyncio.create_task(sandbox.run_node("while (true) {}", {}, {}))
    try:
        await asyncio.sleep(0)
        others = await asyncio.gather(*(sandbox.condition("input % 2 === 0", n) for n in range(6)))
        assert [result.value for result in others] == [True, False, True, False, True, False]
        assert not runaway.done()
    finally:
        runaway.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runaway
    await assert_usable_then_stopped(sandbox, started)


async def test_spare_workers_are_started_ahead_reused_with_fresh_isolates_and_stopped_with_the_sandbox() -> None:
    started = StartedWorkers()
    box = JsSandbox(SandboxLimits(spare_isolates=3))
    try:
        await box.warm()
        spares = started.alive()
        assert len(spares) == 3
        code = "globalThis.n = (globalThis.n ?? 0) + 1; return n"
        results = [await box.run_node(code, {}, {}) for _ in range(5)]
        assert [result.value for result in results] == [1] * 5
        # The spares served and stayed (each evaluation got a fresh isolate, not a fresh process); one more
        # was started when an evaluation took a spare.
        after = await started.alive_once(4, within_seconds=10)
        assert spares < after
        assert len(after) == 4
    finally:
        await assert_usable_then_stopped(box, started)


async def test_the_pool_never_exceeds_its_size_and_every_evaluation_gets_its_turn() -> None:
    started = StartedWorkers()
    box = JsSandbox(SandboxLimits(max_isolates=2, spare_isolates=2))
    try:
        code = "await new Promise((resolve) => setTimeout(resolve, 50)); return inputs.n"
        results = await asyncio.gather(*(box.run_node(code, {"n": n}, {}) for n in range(6)))
        assert [result.value for result in results] == list(range(6))
        assert len(started.alive()) == 2
    finally:
        await assert_usable_then_stopped(box, started)


async def test_condition_binds_input_and_condition_and_returns_truthiness(sandbox: JsSandbox) -> None:
    assert (await sandbox.condition("input.items.length > 1 && condition.ok", {"items": [1, 2], "ok": 1})).value is True
    assert (await sandbox.condition("input", "")).value is False
    with pytest.raises(ScriptError, match="ReferenceError"):
        await sandbox.condition("missing > 1", 1)


async def test_fetch_goes_through_the_given_client_and_resolves_a_response(
    sandbox: JsSandbox, echo: EchoServer
) -> None:
    code = """
      const response = await fetch(inputs.url + '/things?x=1', {method: 'POST', headers: {'X-Token': 't'},
                                                                 body: {name: 'widget'}});
      const echoed = await response.json();
      return {ok: response.ok, status: response.status, type: response.headers.get('Content-Type'),
              method: echoed.method, path: echoed.path, token: echoed.headers['x-token'], body: echoed.body};
    """
    async with httpx2.AsyncClient() as client:
        result = await sandbox.run_node(code, {"url": echo.url}, {}, client_fetch(client, 1024 * 1024))
    assert result.value == {
        "ok": True,
        "status": 200,
        "type": "application/json",
        "method": "POST",
        "path": "/things?x=1",
        "token": "t",
        "body": '{"name":"widget"}',
    }


async def test_fetch_failures_reject_inside_the_script_without_python_details(
    sandbox: JsSandbox, echo: EchoServer
) -> None:
    code = """
      const outcomes = [];
      for (const url of inputs.urls) {
        try { await fetch(url); outcomes.push('fetched'); } catch (error) { outcomes.push(error.message); }
      }
      return outcomes;
    """
    urls = [f"{echo.url}/large", "http://127.0.0.1:1/refused"]
    async with httpx2.AsyncClient() as client:
        result = await sandbox.run_node(code, {"urls": urls}, {}, client_fetch(client, 1000))
    too_large, refused = result.value
    assert too_large == "fetch failed: the response body is larger than 1000 bytes"
    assert refused.startswith("fetch failed: ")
    assert "Traceback" not in refused


async def test_fetch_without_a_client_rejects_clearly(sandbox: JsSandbox) -> None:
    with pytest.raises(ScriptError, match="fetch is not available in this sandbox"):
        await sandbox.run_node("return await fetch('http://127.0.0.1/')", {}, {})


async def test_fetch_requests_of_one_evaluation_are_capped_in_flight_and_in_all(echo: EchoServer) -> None:
    box = JsSandbox(SandboxLimits(max_concurrent_fetches=3, max_fetches=8, spare_isolates=0))
    code = """
      const outcomes = await Promise.allSettled(Array.from({length: 10}, () => fetch(inputs.url + '/slow')));
      return outcomes.map((outcome) => outcome.status === 'fulfilled' ? outcome.value.status : outcome.reason.message);
    """
    try:
        async with httpx2.AsyncClient() as client:
            result = await box.run_node(code, {"url": echo.url}, {}, client_fetch(client, 1024))
    finally:
        await box.aclose()
    refused = "fetch failed: this evaluation already made 8 requests, the most one evaluation may make"
    assert result.value == [200] * 8 + [refused] * 2
    assert echo.peak == 3
