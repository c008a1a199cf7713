"""Running one node for real: a node, its inputs, a run context with live HTTP clients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.context import RunContext, ServiceEndpoints, default_http_clients
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import MISSING, NodeCall, NodeType


async def call_node(
    node_type: NodeType,
    data: Mapping[str, Any] | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    external: Any = MISSING,
    services: ServiceEndpoints | None = None,
) -> Mapping[str, Any]:
    """`node_type.run` on a node with `data`, values on its input ports and (for API inputs) a caller value.

    With `services` (a node that calls out) the run gets real HTTP clients; without, it gets none.
    """
    node = Node(id="node-1", type=node_type.type_name, name=node_type.title, data=dict(data or {}))
    http = default_http_clients() if services is not None else None
    try:
        context = RunContext(execution_id="test", services=services or ServiceEndpoints(), http=http)
        return await node_type.run(NodeCall(node, node_type, dict(inputs or {}), context, external))
    finally:
        if http is not None:
            await http.aclose()


def backend_services(url: str) -> ServiceEndpoints:
    """Endpoints whose every operator service lives at `url` (a loopback fake)."""
    return ServiceEndpoints(python_backend_url=url, comfyui_url=url, openai_base_url=f"{url}/v1")
