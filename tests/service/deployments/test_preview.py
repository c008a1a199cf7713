"""Deploy's dry run: what a body would become (slug, contract, pre-filled name) and every problem, with
nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from clara_runner.clock import utcnow
from clara_runner.flow.limits import WorkflowLimits
from clara_runner.flow.nodes import default_registry
from clara_runner.service.deployments.preview import DeployPreview, preview_deploy
from clara_runner.store import browse
from clara_runner.store.database import Database
from tests.store.stored_runs import stored_deployment
from tests.support import HELLO_WORLD, shared_workflow


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()


async def preview(database: Database, body: Any, version_of: str | None = None) -> DeployPreview:
    return await preview_deploy(database, default_registry(), WorkflowLimits(), body, version_of=version_of)


async def test_an_export_is_previewed_with_its_own_name_and_nothing_is_stored(database: Database) -> None:
    checked = await preview(database, {"workflow": shared_workflow("research-assistant-flow.json")})
    assert checked.deployable
    assert (checked.name, checked.slug, checked.slug_taken) == (
        "Research Assistant Flow",
        "research-assistant-flow",
        False,
    )
    assert checked.contract is not None
    assert [field.name for field in checked.contract.inputs] == ["researchTopic", "analysisDepth"]
    assert checked.description
    async with database.read() as conn:
        assert await browse.browse(conn, state=None, text=None, limit=10) == []


async def test_every_problem_is_listed_at_once(database: Database) -> None:
    checked = await preview(database, {"name": "", "slug": "Bad Slug", "workflow": {"nodes": "no"}})
    assert not checked.deployable
    assert checked.contract is None
    assert any("slug must contain only" in problem for problem in checked.problems)
    assert any("nodes" in problem for problem in checked.problems)
    assert (await preview(database, ["not", "an", "object"])).problems


async def test_a_taken_slug_is_a_problem_when_asked_for_and_a_suffix_when_derived(database: Database) -> None:
    async with database.write() as conn:
        await stored_deployment(conn, utcnow())
    async with database.read() as conn:
        (existing,) = await browse.browse(conn, state=None, text=None, limit=10)
    asked = await preview(database, {"name": "X", "slug": existing.slug, "workflow": HELLO_WORLD})
    assert (asked.slug_taken, asked.deployable) == (True, False)
    derived = await preview(database, {"name": existing.slug, "workflow": HELLO_WORLD})
    assert (derived.slug, derived.slug_taken, derived.deployable) == (f"{existing.slug}-1", True, True)
    assert any(f"would get '{existing.slug}-1'" in warning for warning in derived.warnings)
    version = await preview(database, {"workflow": HELLO_WORLD, "slug": "other"}, version_of=existing.slug)
    assert version.slug == existing.slug
    assert any("slug cannot be changed" in problem for problem in version.problems)
