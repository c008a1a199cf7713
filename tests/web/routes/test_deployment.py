"""A deployment's pages: overview, history with its status filter, one execution with its trace,
versions with rollback, docs, undeploy with confirmation, a regenerated key shown once."""

from __future__ import annotations

import copy
from typing import Any

import httpx2
import pytest

from tests.support import BUILTIN_TYPES_FLOW, HELLO_WORLD, bearer
from tests.web.conftest import ADMIN_KEY, page_csrf

pytestmark = pytest.mark.asyncio


async def deployed(http: httpx2.AsyncClient, name: str = "Greeter") -> dict[str, Any]:
    response = await http.post("/api/deploy", json={"name": name, "workflow": HELLO_WORLD}, headers=bearer(ADMIN_KEY))
    assert response.status_code == 201
    deployment: dict[str, Any] = response.json()["deployment"]
    return deployment


async def run(http: httpx2.AsyncClient, deployment: dict[str, Any], body: Any) -> str:
    response = await http.post(
        f"/api/workflows/{deployment['slug']}/execute", json=body, headers=bearer(deployment["apiKey"])
    )
    execution_id: str = response.json()["metadata"]["executionId"] if response.is_success else ""
    return execution_id


async def test_history_filters_by_status_and_opens_each_execution(signed_in: httpx2.AsyncClient) -> None:
    deployment = await deployed(signed_in)
    succeeded = await run(signed_in, deployment, {"name": "Ada"})
    await run(signed_in, deployment, {"name": 42})
    history = (await signed_in.get("/manage/deployments/greeter/history")).text
    assert history.count('<tr>\n        <td data-label="Started">') == 2
    only_success = (await signed_in.get("/manage/deployments/greeter/history?status=success")).text
    assert f"/manage/executions/{succeeded}" in only_success
    assert only_success.count("/manage/executions/") == 1
    refused = await signed_in.get("/manage/deployments/greeter/history?status=nonsense")
    assert refused.status_code == 400

    page = (await signed_in.get(f"/manage/executions/{succeeded}")).text
    assert 'id="execution-status">success' in page
    assert "Per-node timeline, 2 nodes" in page
    assert "&#34;greeting&#34;: &#34;Ada&#34;" in page


async def test_an_unknown_execution_is_a_page_saying_so(signed_in: httpx2.AsyncClient) -> None:
    response = await signed_in.get("/manage/executions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "execution_not_found" in response.text
    assert (await signed_in.get("/manage/executions/not-an-id")).status_code == 400


async def test_overview_and_docs_show_the_endpoint_fields_and_snippets(signed_in: httpx2.AsyncClient) -> None:
    deployment = await deployed(signed_in)
    await run(signed_in, deployment, {"name": "Ada"})
    overview = (await signed_in.get("/manage/deployments/greeter")).text
    assert "http://localhost/api/workflows/greeter/execute" in overview
    assert "<code>name</code>" in overview
    assert "/manage/executions/" in overview
    docs = (await signed_in.get("/manage/deployments/greeter/docs")).text
    for key in ("curl", "python", "javascript", "curlStream", "pythonAsync"):
        assert f'id="snippet-{key}"' in docs
    assert "YOUR_API_KEY" in docs


async def test_rollback_makes_an_earlier_version_current(signed_in: httpx2.AsyncClient) -> None:
    await deployed(signed_in)
    admin = bearer(ADMIN_KEY)
    assert (await signed_in.put("/api/workflows/greeter", json={"workflow": HELLO_WORLD}, headers=admin)).is_success
    versions = (await signed_in.get("/manage/deployments/greeter/versions")).text
    assert "Make v1 current" in versions
    assert "Make v2 current" not in versions
    csrf = await page_csrf(signed_in, "/manage/deployments/greeter/versions")
    response = await signed_in.post("/manage/deployments/greeter/rollback", data={"csrf": csrf, "version": "1"})
    assert (response.status_code, response.headers["location"]) == (303, "/manage/deployments/greeter/versions")
    assert (await signed_in.get("/api/workflows/greeter")).json()["workflow"]["version"] == 1
    missing = await signed_in.post("/manage/deployments/greeter/rollback", data={"csrf": csrf, "version": "9"})
    assert missing.status_code == 404
    not_a_number = await signed_in.post("/manage/deployments/greeter/rollback", data={"csrf": csrf, "version": "x"})
    assert not_a_number.status_code == 400
    assert "validation_failed" in not_a_number.text
    assert "version:" in not_a_number.text


async def test_undeploy_needs_the_slug_typed(signed_in: httpx2.AsyncClient) -> None:
    deployment = await deployed(signed_in)
    csrf = await page_csrf(signed_in, "/manage/deployments/greeter/undeploy")
    kept = await signed_in.post("/manage/deployments/greeter/undeploy", data={"csrf": csrf, "confirm": "greet"})
    assert kept.status_code == 400
    assert "was not removed" in kept.text
    assert (await run(signed_in, deployment, {"name": "still"})) != ""

    gone = await signed_in.post("/manage/deployments/greeter/undeploy", data={"csrf": csrf, "confirm": "greeter"})
    assert (gone.status_code, gone.headers["location"]) == (303, "/manage?state=deleted&q=greeter")
    assert (await signed_in.get("/api/workflows/greeter")).status_code == 404
    assert (await signed_in.get("/manage/deployments/greeter")).status_code == 404


async def test_the_overview_draws_runs_and_durations_of_the_period(signed_in: httpx2.AsyncClient) -> None:
    deployment = await deployed(signed_in)
    await run(signed_in, deployment, {"name": "Ada"})
    await run(signed_in, deployment, {"name": "Bob"})
    await run(signed_in, deployment, {"name": 42})
    hourly = (await signed_in.get("/manage/deployments/greeter")).text
    assert '<dd id="stats-runs">3</dd>' in hourly, "an admitted request refused for its inputs is a run too"
    assert "<dd>66.7 %</dd>" in hourly
    assert "Statistics, last 24 hours by hour" in hourly
    assert (hourly.count('<rect class="run success"'), hourly.count('<rect class="run error"')) == (1, 1)
    assert ": 2 success</title>" in hourly
    assert hourly.count("<circle") == 2, "p50 and p95 of the one busy hour"
    daily = (await signed_in.get("/manage/deployments/greeter?bucket=day")).text
    assert "last 30 days by day" in daily
    assert (await signed_in.get("/manage/deployments/greeter?bucket=week")).status_code == 400


async def test_the_console_form_follows_the_input_schema(signed_in: httpx2.AsyncClient) -> None:
    workflow = copy.deepcopy(BUILTIN_TYPES_FLOW)
    workflow["nodes"].append({"id": "photo", "type": "image-input", "data": {"label": "Photo"}})
    workflow["nodes"].append({"id": "shown", "type": "output", "data": {"outputLabel": "Shown"}})
    workflow["connections"].append({"source": "photo", "target": "shown", "sourceHandle": "base64"})
    response = await signed_in.post(
        "/api/deploy", json={"name": "Console", "workflow": workflow}, headers=bearer(ADMIN_KEY)
    )
    assert response.status_code == 201, response.text
    page = (await signed_in.get("/manage/deployments/console/console")).text
    assert 'data-endpoint="/api/workflows/console/execute"' in page
    assert '<textarea id="input-name" name="name" rows="2" placeholder="' in page, "the schema's example as a hint"
    assert '<input id="input-count" name="count" type="number" step="any"' in page
    assert '<div class="field" data-field="config" data-kind="json">' in page
    assert '<input id="input-photo" name="photo" type="file" accept="image/' in page


async def test_a_malformed_slug_is_a_page_saying_so(signed_in: httpx2.AsyncClient) -> None:
    for path in (
        "/manage/deployments/Not_A_Slug",
        "/manage/deployments/Not_A_Slug/history",
        "/manage/deployments/x%20y/keys",
    ):
        response = await signed_in.get(path)
        assert response.status_code == 400, path
        assert "invalid_slug" in response.text
        assert response.text.startswith("<!DOCTYPE html>")
