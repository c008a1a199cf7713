"""The event log of a detached run: numbering, how engine events read, token coalescing, following."""

from __future__ import annotations

import asyncio
import json
import uuid

from clara_runner.flow.events import NodeFinished, NodeMessage, NodeStarted
from clara_runner.service.execution.event_log import LoggedEvent, RunEventLog


def shown(events: list[LoggedEvent]) -> list[tuple[int, str, dict[str, object]]]:
    return [(event.seq, event.name, json.loads(event.data)) for event in events]


async def test_engine_events_become_numbered_events_with_redacted_errors() -> None:
    log = RunEventLog(uuid.uuid4())
    sink = log.sink(lambda text: text.replace("sk-secret", "[REDACTED]"))

    sink(NodeStarted("a", "llm", 1.0))
    sink(NodeFinished("a", "llm", "error", 1.0, 2.5, "bad key sk-secret"))
    sink(NodeFinished("b", "output", "skipped", 2.0, 0.0))
    sink(NodeFinished("c", "text", "success", 2.0, 0.1234))
    sink(NodeFinished("d", "llm", "cancelled", 2.0, 1.0))

    assert shown(log.events) == [
        (1, "node.started", {"nodeId": "a", "type": "llm", "startedAt": "1970-01-01T00:00:01.000Z"}),
        (
            2,
            "node.failed",
            {
                "nodeId": "a",
                "type": "llm",
                "status": "error",
                "startedAt": "1970-01-01T00:00:01.000Z",
                "durationMs": 2.5,
                "error": "bad key [REDACTED]",
            },
        ),
        (
            3,
            "node.skipped",
            {
                "nodeId": "b",
                "type": "output",
                "status": "skipped",
                "startedAt": "1970-01-01T00:00:02.000Z",
                "durationMs": 0.0,
            },
        ),
        (
            4,
            "node.finished",
            {
                "nodeId": "c",
                "type": "text",
                "status": "success",
                "startedAt": "1970-01-01T00:00:02.000Z",
                "durationMs": 0.123,
            },
        ),
        (
            5,
            "node.failed",
            {
                "nodeId": "d",
                "type": "llm",
                "status": "cancelled",
                "startedAt": "1970-01-01T00:00:02.000Z",
                "durationMs": 1.0,
            },
        ),
    ]


async def test_tokens_of_one_loop_turn_are_one_delta_and_never_overtake_later_events() -> None:
    log = RunEventLog(uuid.uuid4())
    sink = log.sink(str)

    sink(NodeMessage("a", "token", "Hel"))
    sink(NodeMessage("a", "token", "lo"))
    sink(NodeMessage("b", "token", "x"))
    await asyncio.sleep(0)
    sink(NodeMessage("a", "token", " world"))
    sink(NodeFinished("a", "llm", "success", 1.0, 3.0))
    sink(NodeMessage("a", "log", "not a token"))

    assert [(name, data.get("delta")) for _, name, data in shown(log.events)] == [
        ("llm.token", "Hello"),
        ("llm.token", "x"),
        ("llm.token", " world"),
        ("node.finished", None),
    ]


async def test_followers_get_the_past_after_their_last_id_then_live_events_until_the_log_closes() -> None:
    log = RunEventLog(uuid.uuid4())
    log.append("run.started", {"n": 1})
    log.append("node.started", {"n": 2})

    async def follow(after: int) -> list[int]:
        return [event.seq async for event in log.follow(after)]

    from_start = asyncio.create_task(follow(0))
    resumed = asyncio.create_task(follow(1))
    await asyncio.sleep(0)
    log.append("node.finished", {"n": 3})
    log.append("run.finished", b'{"success":true}')
    log.close()

    assert await from_start == [1, 2, 3, 4]
    assert await resumed == [2, 3, 4]
    assert await follow(4) == []
    assert log.events[-1].data == b'{"success":true}'
