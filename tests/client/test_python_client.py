"""`clara_runner.client` against a real server (`clara-runner serve` in its own process): every method,
blocking and asyncio, and errors as `ClaraApiError` with the server's code."""

from __future__ import annotations

from typing import Any

import pytest

from clara_runner.client import CONNECTION_FAILED, AsyncDeploymentClient, ClaraApiError, DeploymentClient
from tests.support import HELLO_WORLD, LiveServer, free_port


def test_the_seed_methods_and_keys_stats_and_runs(module_live_server: LiveServer) -> None:
    with DeploymentClient(module_live_server.base_url) as client:
        deployed = client.deploy_workflow(HELLO_WORLD, name="Client Sync", description="From the client")
        slug, key = deployed["slug"], deployed["apiKey"]
        assert (slug, deployed["description"]) == ("client-sync", "From the client")
        assert slug in [item["slug"] for item in client.get_deployments(limit=1000)["deployments"]]
        details = client.get_deployment_details(slug)
        assert details["schema"]["input"]["required"] == ["name"]

        result = client.execute_workflow(slug, {"name": "Ada"}, key)
        assert result["outputs"] == {"greeting": "Ada"}
        history = client.get_executions(slug, key, limit=5)
        assert [entry["status"] for entry in history["executions"]] == ["success"]
        execution = client.get_execution(history["executions"][0]["id"], key)
        assert execution["outputs"] == {"greeting": "Ada"}
        stats = client.get_stats(slug, key, bucket="hour")
        assert (stats["totals"]["runs"], stats["totals"]["byStatus"]["success"]) == (1, 1)

        extra = client.create_key(slug, "ci", expires_at="2999-01-01T00:00:00Z")
        assert client.execute_workflow(slug, {"name": "B"}, extra["apiKey"])["outputs"] == {"greeting": "B"}
        listed = client.list_keys(slug)["keys"]
        assert [(item["name"], item["status"]) for item in listed] == [("ci", "active"), ("default", "active")]
        assert client.revoke_key(slug, extra["id"])["status"] == "revoked"
        with pytest.raises(ClaraApiError) as revoked:
            client.execute_workflow(slug, {"name": "C"}, extra["apiKey"])
        assert (revoked.value.status, revoked.value.code) == (401, "api_key_revoked")

        regenerated = client.regenerate_api_key(deployed["id"], key)
        assert regenerated["previousKeysValidUntil"] is None
        with pytest.raises(ClaraApiError) as old:
            client.execute_workflow(slug, {"name": "D"}, key)
        assert old.value.code == "api_key_revoked"
        assert client.undeploy_workflow(deployed["id"], regenerated["apiKey"])["workflow"]["slug"] == slug
        with pytest.raises(ClaraApiError) as gone:
            client.get_deployment_details(slug)
        assert (gone.value.status, gone.value.code) == (404, "workflow_not_found")


def test_validation_problems_are_listed_on_the_error(module_live_server: LiveServer) -> None:
    with DeploymentClient(module_live_server.base_url) as client:
        deployed = client.deploy_workflow(HELLO_WORLD, name="Client Checks")
        with pytest.raises(ClaraApiError) as invalid:
            client.execute_workflow(deployed["slug"], {"nickname": "x"}, deployed["apiKey"])
        assert (invalid.value.status, invalid.value.code) == (400, "input_validation_failed")
        assert invalid.value.validation_errors
        with pytest.raises(ClaraApiError) as refused:
            client.deploy_workflow({"nodes": []}, name="")
        assert refused.value.code in ("validation_failed", "invalid_workflow")


async def test_the_async_client_streams_starts_and_follows_runs(module_live_server: LiveServer) -> None:
    async with AsyncDeploymentClient(module_live_server.base_url) as client:
        deployed = await client.deploy_workflow(HELLO_WORLD, name="Client Async")
        slug, key = deployed["slug"], deployed["apiKey"]
        events = [event async for event in client.stream_workflow(slug, {"name": "Ada"}, key)]
        assert events[0]["event"] == "run.started"
        assert events[-1]["event"] == "run.finished"
        finished: Any = events[-1]["data"]
        assert finished["outputs"] == {"greeting": "Ada"}

        accepted = await client.start_workflow(slug, {"name": "Bo"}, key)
        assert accepted["status"] == "running"
        followed = [event async for event in client.execution_events(accepted["executionId"], key)]
        assert followed[-1]["event"] == "run.finished"
        replayed = [
            event
            async for event in client.execution_events(accepted["executionId"], key, last_event_id=followed[0]["id"])
        ]
        assert replayed == followed[1:]
        execution = await client.get_execution(accepted["executionId"], key)
        assert (execution["status"], execution["outputs"]) == ("success", {"greeting": "Bo"})
        stats = await client.get_stats(slug, key)
        assert stats["totals"]["runs"] == 2
        page = await client.get_deployments(limit=1000)
        listed = {item["slug"]: item for item in page["deployments"]}
        assert listed[slug]["stats"]["runs"] == 2
        with pytest.raises(ClaraApiError) as cancelled:
            await client.cancel_execution(accepted["executionId"], key)
        assert cancelled.value.status == 409


async def test_an_unreachable_server_is_a_connection_failed_error() -> None:
    async with AsyncDeploymentClient(f"http://127.0.0.1:{free_port()}", timeout=5) as client:
        with pytest.raises(ClaraApiError) as failed:
            await client.get_deployments()
    assert (failed.value.code, failed.value.status) == (CONNECTION_FAILED, None)
    with (
        DeploymentClient(f"http://127.0.0.1:{free_port()}", timeout=5) as blocking,
        pytest.raises(ClaraApiError) as stream_failed,
    ):
        list(blocking.stream_workflow("x", {}, "clara_sk_x"))
    assert stream_failed.value.code == CONNECTION_FAILED
