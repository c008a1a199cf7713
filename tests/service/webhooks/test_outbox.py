"""The outbox end to end, as the run core will drive it: a stored final row handed to `run_finished` (or a
callback registered before the run) becomes signed deliveries that a real receiver verifies, retried on
the schedule, logged, redeliverable, and recovered by the sweep after a crash."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from clara_runner.clock import utcnow
from clara_runner.errors import ClaraError
from clara_runner.server.app import create_app
from clara_runner.store import webhooks as queries
from clara_runner.store.webhooks import WebhookRecord
from tests.service.webhooks.support import add_webhook, running, settled, store_run, webhook_app
from tests.support import deploy, make_settings
from tests.webhook_receiver import webhook_receiver


async def test_a_run_is_delivered_signed_to_the_webhooks_that_subscribed_to_its_outcome(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        webhook_receiver() as succeeded,
        webhook_receiver() as failed,
        webhook_receiver() as finished,
        running(webhook_app(database_url, tmp_path / "data")) as (client, runtime),
    ):
        await deploy(client)
        deployment = await runtime.deployments.get("hello-world")
        for receiver, events in (
            (succeeded, ["run.succeeded"]),
            (failed, ["run.failed"]),
            (finished, ["run.finished"]),
        ):
            receiver.secret = (await add_webhook(client, "hello-world", receiver.url, events))["secret"]

        good = await store_run(runtime, deployment, outputs={"greeting": "Hello Ada"})
        await runtime.webhooks.run_finished(good, deployment)
        [first] = await succeeded.wait_for(1)
        await finished.wait_for(1)
        bad = await store_run(runtime, deployment, status="timeout")
        await runtime.webhooks.run_finished(bad, deployment)
        [second] = await failed.wait_for(1)
        await finished.wait_for(2)

    assert first.verified
    assert second.verified
    assert all(item.verified for item in finished.received)
    assert first.headers["webhook-signature"].startswith("v1,")
    assert first.json == {
        "type": "run.succeeded",
        "timestamp": first.json["data"]["finishedAt"],
        "data": {
            "executionId": str(good.id),
            "workflow": {"id": str(deployment.id), "slug": "hello-world"},
            "status": "success",
            "version": 1,
            "outputs": {"greeting": "Hello Ada"},
            "error": None,
            "durationMs": 42,
            "createdAt": first.json["data"]["createdAt"],
            "finishedAt": first.json["data"]["finishedAt"],
        },
    }
    assert second.json["type"] == "run.failed"
    assert second.json["data"]["error"] == {"code": "node_failed", "message": "The node failed"}
    assert (second.json["data"]["status"], second.json["data"]["outputs"]) == ("timeout", None)
    assert [item.json["data"]["executionId"] for item in finished.received] == [str(good.id), str(bad.id)]
    assert len(succeeded.received) == len(failed.received) == 1


async def test_run_finished_touches_no_database_for_a_deployment_without_webhooks(
    database_url: str, tmp_path: Path
) -> None:
    async with running(webhook_app(database_url, tmp_path / "data")) as (client, runtime):
        await deploy(client)
        deployment = await runtime.deployments.get("hello-world")
        row = await store_run(runtime, deployment)
        await runtime.webhooks.run_finished(row, deployment)  # fills the cache of deployments with webhooks
        statements: list[str] = []
        runtime.database.statement_observers.append(statements.append)
        for _ in range(20):
            await runtime.webhooks.run_finished(row, deployment)
        runtime.database.statement_observers.remove(statements.append)
    assert statements == []


async def test_failed_attempts_are_retried_on_the_schedule_and_logged(database_url: str, tmp_path: Path) -> None:
    async with (
        webhook_receiver([500, "hang", 200]) as receiver,
        running(webhook_app(database_url, tmp_path / "data")) as (client, runtime),
    ):
        await deploy(client)
        deployment = await runtime.deployments.get("hello-world")
        webhook = await add_webhook(client, "hello-world", receiver.url, ["run.finished"])
        receiver.secret = webhook["secret"]
        row = await store_run(runtime, deployment)
        await runtime.webhooks.run_finished(row, deployment)
        attempts = await receiver.wait_for(3)
        [delivery] = await settled(client, "hello-world", webhook["id"])

    assert all(attempt.verified for attempt in attempts)
    assert len({attempt.headers["webhook-id"] for attempt in attempts}) == 1, "one message id across retries"
    assert attempts[0].headers["webhook-id"] == delivery["id"]
    assert attempts[0].body == attempts[1].body == attempts[2].body
    # The schedule is 0.2 s then 0.4 s, each at least 80% of itself after jitter; the second wait also
    # spans the 0.5 s the hanging attempt took to time out.
    assert attempts[1].at - attempts[0].at >= 0.2 * 0.8
    assert attempts[2].at - attempts[1].at >= 0.4 * 0.8
    assert (delivery["state"], delivery["attempts"], delivery["executionId"]) == ("succeeded", 3, str(row.id))
    assert (delivery["lastStatusCode"], delivery["lastError"], delivery["nextAttemptAt"]) == (200, None, None)
    log = delivery["attemptLog"]
    assert [(entry["statusCode"], entry["error"]) for entry in log] == [
        (500, "HTTP 500"),
        (None, "no answer within 0.5 s"),
        (200, None),
    ]
    assert all(isinstance(entry["latencyMs"], int) and entry["at"] for entry in log)


async def test_a_delivery_is_failed_after_its_last_retry_and_can_be_redelivered(
    database_url: str, tmp_path: Path
) -> None:
    app = webhook_app(database_url, tmp_path / "data", WEBHOOK_RETRY_SCHEDULE="0.05")
    async with webhook_receiver([500, 503]) as receiver, running(app) as (client, runtime):
        await deploy(client)
        deployment = await runtime.deployments.get("hello-world")
        webhook = await add_webhook(client, "hello-world", receiver.url, ["run.succeeded"])
        await runtime.webhooks.run_finished(await store_run(runtime, deployment), deployment)
        [failed] = await settled(client, "hello-world", webhook["id"])
        assert (failed["state"], failed["attempts"], failed["lastStatusCode"]) == ("failed", 2, 503)

        path = f"/api/workflows/hello-world/webhooks/{webhook['id']}/deliveries/{failed['id']}/redeliver"
        response = await client.post(path)
        assert response.status_code == 202, response.text
        assert response.json()["delivery"]["id"] == failed["id"]
        await receiver.wait_for(3)
        [delivered] = await settled(client, "hello-world", webhook["id"])
        while delivered["state"] != "succeeded":
            [delivered] = await settled(client, "hello-world", webhook["id"])

    assert (delivered["attempts"], delivered["lastStatusCode"]) == (3, 200)
    assert [entry["statusCode"] for entry in delivered["attemptLog"]] == [500, 503, 200]


async def test_deliveries_go_through_the_egress_policy(database_url: str, tmp_path: Path) -> None:
    """A webhook to a loopback address (stored past the check at creation, as if the policy had changed)
    is refused at every attempt by the server's egress policy: the receiver hears nothing."""
    settings = make_settings(database_url, tmp_path / "data", WEBHOOK_RETRY_SCHEDULE="", WEBHOOK_POLL_SECONDS="0.05")
    async with webhook_receiver() as receiver, running(create_app(settings)) as (client, runtime):
        await deploy(client)
        deployment = await runtime.deployments.get("hello-world")
        hook = WebhookRecord(uuid.uuid4(), deployment.id, receiver.url, ["run.finished"], "whsec_AAAA", utcnow())
        async with runtime.database.write() as conn:
            await queries.insert_webhook(conn, hook)
        runtime.webhooks.webhooks_changed(deployment.id, present=True)
        await runtime.webhooks.run_finished(await store_run(runtime, deployment), deployment)
        [delivery] = await settled(client, "hello-world", str(hook.id))

    assert receiver.received == []
    assert (delivery["state"], delivery["attempts"], delivery["lastStatusCode"]) == ("failed", 1, None)
    assert "blocked by the egress policy" in delivery["lastError"]


async def test_a_callback_registered_before_the_run_is_delivered_signed_with_the_callback_secret(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        webhook_receiver() as receiver,
        running(webhook_app(database_url, tmp_path / "data")) as (client, runtime),
    ):
        created = await deploy(client, allowCallbackUrl=True)
        deployment = await runtime.deployments.get("hello-world")
        response = await client.get(
            "/api/workflows/hello-world/callback-secret", headers={"Authorization": f"Bearer {created['apiKey']}"}
        )
        receiver.secret = response.json()["secret"]
        execution_id = uuid.uuid4()
        await runtime.webhooks.register_callback(execution_id, deployment, receiver.url + "?run=1")
        row = await store_run(runtime, deployment, status="error", execution_id=execution_id)
        await runtime.webhooks.run_finished(row, deployment)
        [received] = await receiver.wait_for(1)

    assert received.verified
    assert (received.json["type"], received.json["data"]["executionId"]) == ("run.failed", str(execution_id))


async def test_a_callback_needs_a_deployment_that_allows_it_and_a_reachable_url(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "data")
    async with running(create_app(settings)) as (client, runtime):
        await deploy(client)
        await deploy(client, name="Calls back", allowCallbackUrl=True)
        closed = await runtime.deployments.get("hello-world")
        open_ = await runtime.deployments.get("calls-back")
        refusals = [
            (closed, "https://93.184.215.14/hook"),
            (open_, "ftp://93.184.215.14/hook"),
            (open_, "not a url"),
            (open_, "http://127.0.0.1:9/hook"),
            (open_, "http://169.254.169.254/latest"),
            (open_, "http://localhost:9/hook"),
        ]
        codes = []
        for deployment, url in refusals:
            with pytest.raises(ClaraError) as refused:
                await runtime.webhooks.register_callback(uuid.uuid4(), deployment, url)
            codes.append((refused.value.status, refused.value.code))
        pure = []
        for deployment, url in refusals[:5]:
            with pytest.raises(ClaraError) as refused:
                runtime.webhooks.check_callback(deployment, url)
            pure.append(refused.value.code)
    assert codes == [(403, "callbacks_not_allowed")] + [(400, "invalid_callback_url")] * 5
    assert pure == ["callbacks_not_allowed"] + ["invalid_callback_url"] * 4


async def test_after_a_crash_the_sweep_queues_what_run_finished_never_did(database_url: str, tmp_path: Path) -> None:
    """A run's final row committed, then the process died before its deliveries were queued (here:
    `run_finished` is never called). The next process start sends them: the webhook's and the run's
    waiting callback."""
    data = tmp_path / "data"
    async with webhook_receiver() as hook_receiver, webhook_receiver() as callback_receiver:
        async with running(webhook_app(database_url, data)) as (client, runtime):
            await deploy(client, allowCallbackUrl=True)
            deployment = await runtime.deployments.get("hello-world")
            webhook = await add_webhook(client, "hello-world", hook_receiver.url, ["run.finished"])
            hook_receiver.secret = webhook["secret"]
            callback_receiver.secret = await runtime.webhook_admin.callback_secret(deployment)
            execution_id = uuid.uuid4()
            await runtime.webhooks.register_callback(execution_id, deployment, callback_receiver.url)
            row = await store_run(runtime, deployment, execution_id=execution_id)
        assert hook_receiver.received == callback_receiver.received == []

        async with running(webhook_app(database_url, data)) as (client, restarted):
            [to_hook] = await hook_receiver.wait_for(1)
            [to_callback] = await callback_receiver.wait_for(1)
            [delivery] = await settled(client, "hello-world", webhook["id"])
            assert await restarted.webhooks.sweep() == 0, "nothing is queued twice"

    assert to_hook.verified
    assert to_callback.verified
    assert to_hook.json["data"]["executionId"] == to_callback.json["data"]["executionId"] == str(row.id)
    assert (delivery["state"], delivery["attempts"]) == ("succeeded", 1)
