"""A deployment's execution history, newest first, for its key holder or the admin."""

from __future__ import annotations

from clara_runner.errors import InvalidParameter
from clara_runner.service.access import Access
from clara_runner.service.pages import Page, PageRequest
from clara_runner.store import executions as execution_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord, ExecutionRecord
from clara_runner.store.tables import UNFINISHED

EXECUTION_STATUSES = (*UNFINISHED, "success", "error", "timeout", "cancelled", "interrupted")


class ExecutionHistory:
    def __init__(self, database: Database, access: Access) -> None:
        self._database = database
        self._access = access

    async def page(
        self,
        slug: str,
        authorization: str | None,
        client_host: str | None,
        page: PageRequest,
        status: str | None,
    ) -> tuple[DeploymentRecord, Page[ExecutionRecord]]:
        if status is not None and status not in EXECUTION_STATUSES:
            raise InvalidParameter(f"status must be one of: {', '.join(EXECUTION_STATUSES)}")
        caller = await self._access.caller(authorization, client_host)
        deployment = await self._access.deployment(caller, "read the executions of", slug=slug)
        async with self._database.read() as conn:
            rows = await execution_queries.list_for_deployment(
                conn, deployment.id, limit=page.limit + 1, offset=page.offset, status=status
            )
        return deployment, Page.from_overfetch(rows, page)
