"""Running flow documents in engine tests: the default registry, a sandbox, and every event kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clara_runner.flow.context import HttpClients, RunContext
from clara_runner.flow.events import NodeFinished, NodeMessage, RunEvent
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.runner import RunResult, run
from clara_runner.flow.sandbox import JsSandbox


@dataclass
class Recorded:
    events: list[RunEvent] = field(default_factory=list)

    def __call__(self, event: RunEvent) -> None:
        self.events.append(event)

    def status(self) -> dict[str, str]:
        return {event.node_id: event.status for event in self.events if isinstance(event, NodeFinished)}

    def messages(self, node_id: str) -> list[tuple[str, Any]]:
        return [(e.kind, e.payload) for e in self.events if isinstance(e, NodeMessage) and e.node_id == node_id]


async def run_flow(
    document: Any,
    inputs: dict[str, Any] | None = None,
    *,
    sandbox: JsSandbox | None,
    http: HttpClients | None = None,
    recorded: Recorded | None = None,
) -> RunResult:
    plan = compile_flow(parse_flow(document), default_registry())
    context = RunContext(events=recorded or Recorded(), sandbox=sandbox, http=http)
    return await run(plan, inputs or {}, context)


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": data}


def edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, str]:
    return {"sourceNodeId": source, "sourcePortId": source_port, "targetNodeId": target, "targetPortId": target_port}
