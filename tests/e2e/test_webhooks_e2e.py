"""A run's webhook delivery survives the server's death: the run's final row is stored, the server is
killed (`kill -9`) before anything is sent, and the next start sends it, signed, as a receiver verifies
it. Real processes: `clara-runner serve` twice on the same database, and a loopback receiver."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx2

from tests.support import LiveServer, bearer, deploy_to, server_env
from tests.webhook_receiver import webhook_receiver


async def test_a_finished_run_is_delivered_by_the_next_server_after_a_kill_9(database_url: str, tmp_path: Path) -> None:
    env = server_env(
        database_url,
        tmp_path / "data",
        EGRESS_ALLOW_CIDRS="127.0.0.0/8",
        WEBHOOK_POLL_SECONDS="0.1",
        RATE_LIMIT_ENABLED="false",
        PROCESS_LEASE_SECONDS="5",
    )
    async with webhook_receiver() as receiver, httpx2.AsyncClient(timeout=30) as http:
        first = await asyncio.to_thread(LiveServer, env)
        try:
            deployment = await deploy_to(http, first.base_url)
            created = await http.post(
                f"{first.base_url}/api/workflows/{deployment['slug']}/webhooks",
                json={"url": receiver.url, "events": ["run.succeeded"]},
            )
            assert created.status_code == 201, created.text
            webhook = created.json()["webhook"]
            receiver.secret = webhook["secret"]
            executed = await http.post(
                f"{first.base_url}/api/workflows/{deployment['slug']}/execute",
                json={"name": "Ada"},
                headers=bearer(deployment["apiKey"]),
            )
            assert executed.status_code == 200, executed.text
            execution_id = executed.json()["metadata"]["executionId"]
        finally:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)

        second = await asyncio.to_thread(LiveServer, env)
        try:
            [received] = await receiver.wait_for(1, seconds=30)
            deliveries_url = f"{second.base_url}/api/workflows/{deployment['slug']}/webhooks/{webhook['id']}/deliveries"
            for _ in range(300):
                [delivery] = (await http.get(deliveries_url)).json()["deliveries"]
                if delivery["state"] == "succeeded":
                    break
                await asyncio.sleep(0.1)
        finally:
            await asyncio.to_thread(second.stop)

    assert received.verified
    assert received.json["type"] == "run.succeeded"
    assert received.json["data"]["executionId"] == execution_id
    assert received.json["data"]["outputs"] == executed.json()["outputs"]
    assert all(item.json["data"]["executionId"] == execution_id for item in receiver.received)
    assert (delivery["state"], delivery["executionId"], delivery["lastStatusCode"]) == ("succeeded", execution_id, 200)
