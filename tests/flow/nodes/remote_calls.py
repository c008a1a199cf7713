"""Calling one node type directly, with a real run context, for node tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.context import HttpClients, RunContext, ServiceEndpoints
from clara_runner.flow.events import EventSink, RunEvent, discard
from clara_runner.flow.llm_calls import LlmObserver
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import NodeCall, NodeType


def node_call(
    node_type: NodeType,
    http: HttpClients,
    data: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    *,
    services: ServiceEndpoints | None = None,
    events: EventSink = discard,
    llm_calls: LlmObserver | None = None,
) -> NodeCall:
    node = Node("node-1", node_type.type_name, "", dict(data or {}))
    context = RunContext(events=events, services=services or ServiceEndpoints(), http=http, llm_calls=llm_calls)
    return NodeCall(node, node_type, dict(inputs or {}), context)


class Events:
    """An event sink that keeps what it is given."""

    def __init__(self) -> None:
        self.seen: list[RunEvent] = []

    def __call__(self, event: RunEvent) -> None:
        self.seen.append(event)
