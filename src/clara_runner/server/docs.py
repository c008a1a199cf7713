"""A deployment's published documentation: its OpenAPI document and its code snippets.

Both are derived from the current version's stored contract and the public base URL of this request,
so they are never stale and name the address the reader actually used.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from clara_runner.contract.examples import example_object
from clara_runner.contract.openapi import WorkflowDocument, workflow_openapi
from clara_runner.contract.schema import Contract
from clara_runner.contract.snippets import code_snippets
from clara_runner.server.deps import links, runtime
from clara_runner.store.records import DeploymentRecord


async def published(request: Request, record: DeploymentRecord) -> tuple[Contract, WorkflowDocument]:
    state = runtime(request)
    loaded = await state.deployments.current_version(record)
    document = WorkflowDocument(
        name=record.name,
        slug=record.slug,
        description=record.description,
        version=loaded.version,
        base_url=links(request).base_url,
        max_execution_seconds=state.settings.max_execution_seconds,
    )
    return loaded.contract, document


async def openapi_document(request: Request, record: DeploymentRecord) -> dict[str, Any]:
    contract, document = await published(request, record)
    return workflow_openapi(contract, document)


async def snippets(request: Request, record: DeploymentRecord) -> dict[str, str]:
    contract, document = await published(request, record)
    return code_snippets(document.endpoint, example_object(contract.input_schema), document.max_execution_seconds)
