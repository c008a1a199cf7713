"""Deployment versions ready to run: compiled plan, stored contract and input validator, built once.

Versions are immutable, so a loaded version is cached for the life of the process (bounded LRU).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from clara_runner.contract.inputs import InputBinder
from clara_runner.contract.output_check import OutputChecker
from clara_runner.contract.schema import Contract
from clara_runner.errors import ClaraError, WorkflowNotFound
from clara_runner.flow.errors import FlowDefinitionError
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.flow.plan import Plan, compile_flow
from clara_runner.store import deployments as deployment_queries
from clara_runner.store.database import Database


class DeploymentBroken(ClaraError):
    """The stored workflow no longer compiles on this server (a node type it uses is gone)."""

    code = "deployment_broken"
    status = 500
    error = "Deployment cannot run"


class VersionNotFound(WorkflowNotFound):
    """The workflow has no version with this number."""

    code = "version_not_found"
    error = "Version not found"


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    deployment_id: uuid.UUID
    version: int
    plan: Plan
    contract: Contract
    binder: InputBinder
    output_checker: OutputChecker

    def outputs_by_field(self, outputs_by_node: dict[str, Any]) -> dict[str, Any]:
        return {
            field.name: outputs_by_node[field.node_id]
            for field in self.contract.outputs
            if field.node_id in outputs_by_node
        }


def load_version(workflow: Any, contract_document: dict[str, Any], registry: NodeRegistry) -> tuple[Plan, Contract]:
    plan = compile_flow(parse_flow(workflow), registry)
    return plan, Contract.from_document(contract_document)


class VersionCache:
    def __init__(self, database: Database, registry: NodeRegistry, size: int = 256) -> None:
        self._database = database
        self._registry = registry
        self._size = size
        self._loaded: OrderedDict[tuple[uuid.UUID, int], LoadedVersion] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, deployment_id: uuid.UUID, version: int) -> LoadedVersion:
        key = (deployment_id, version)
        loaded = self._loaded.get(key)
        if loaded is not None:
            self._loaded.move_to_end(key)
            return loaded
        async with self._lock:
            loaded = self._loaded.get(key) or await self._load(deployment_id, version)
        self._loaded[key] = loaded
        if len(self._loaded) > self._size:
            self._loaded.popitem(last=False)
        return loaded

    async def _load(self, deployment_id: uuid.UUID, version: int) -> LoadedVersion:
        async with self._database.read() as conn:
            record = await deployment_queries.get_version(conn, deployment_id, version)
        if record is None:
            raise VersionNotFound(
                f"Version {version} of this workflow does not exist; GET /api/workflows/<slug>/versions lists them",
                details={"version": version},
            )
        try:
            plan, contract = await asyncio.to_thread(load_version, record.workflow, record.contract, self._registry)
        except FlowDefinitionError as exc:
            raise DeploymentBroken(f"The deployed workflow no longer compiles: {exc}") from exc
        return LoadedVersion(deployment_id, version, plan, contract, InputBinder(contract), OutputChecker(contract))
