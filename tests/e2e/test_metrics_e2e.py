"""`/metrics` of a real `clara-runner serve` with two uvicorn workers: scraped with Prometheus's text
parser, its values sum both processes and move as requests are made."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.lifecycle import lifecycle_env
from tests.fakes.openai_server import FakeOpenAI
from tests.support import LiveServer, ask_flow, bearer, deploy_to, free_port

ADMIN_KEY = "metrics-admin-key-0123456789"
EXECUTE = "/api/workflows/{slug}/execute"
RUNS = 12


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there is none yet)."""
    wanted = set(labels.items())
    return sum(found for (sample, have), found in scraped.items() if sample == name and wanted <= have)


async def scrape(
    http: httpx2.AsyncClient, url: str, headers: Mapping[str, str]
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await http.get(url, headers=dict(headers))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_metrics_sum_every_worker_and_move_with_requests(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    env = lifecycle_env(database_url, tmp_path / "data", openai_server, CLARA_ADMIN_KEY=ADMIN_KEY)
    admin = bearer(ADMIN_KEY)
    with LiveServer(env, ["--workers", "2"]) as server:
        async with httpx2.AsyncClient(base_url=server.base_url, timeout=30) as http:
            refused = await http.get("/metrics")
            assert (refused.status_code, refused.json()["code"]) == (401, "admin_key_required")
            deployed = await http.post("/api/deploy", json={"name": "Ask", "workflow": ask_flow()}, headers=admin)
            assert deployed.status_code == 201, deployed.text
            deployment = deployed.json()["deployment"]
            before = await scrape(http, "/metrics", admin)
            for index in range(RUNS):
                answered = await http.post(
                    f"/api/workflows/{deployment['slug']}/execute",
                    json={"question": f"q{index}"},
                    headers={**bearer(deployment["apiKey"]), "Connection": "close"},
                )
                assert answered.status_code == 200, answered.text
            wrong_key = await http.post(f"/api/workflows/{deployment['slug']}/execute", json={}, headers=bearer("x"))
            assert wrong_key.status_code == 401
            after = await scrape(http, "/metrics", admin)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("clara_http_request_duration_seconds_count", route=EXECUTE, status="200", method="POST") == RUNS
    assert moved("clara_http_request_duration_seconds_count", route=EXECUTE, method="POST") == RUNS + 1
    assert moved("clara_executions_total", deployment="ask", version="1", status="success") == RUNS
    assert moved("clara_execution_duration_seconds_count", deployment="ask", status="success") == RUNS
    assert moved("clara_node_duration_seconds_count", node_type="llm", status="success") == RUNS
    assert value(after, "clara_node_duration_seconds_count", node_type="input") == 0, "pure nodes are not timed"
    assert moved("clara_llm_calls_total", provider="openai", outcome="ok") == RUNS
    assert moved("clara_llm_tokens_total", provider="openai", kind="prompt") == 11 * RUNS
    assert moved("clara_llm_tokens_total", provider="openai", kind="completion") == 7 * RUNS
    assert moved("clara_http_errors_total", code="invalid_api_key_format") == 1
    assert moved("clara_execution_queue_wait_seconds_count") == RUNS
    assert moved("clara_writer_batch_size_sum") == 2 * RUNS, "a `running` row before the model call, then the final"
    assert value(after, "clara_http_request_duration_seconds_count", route="unmatched") == 0


async def test_metrics_on_a_port_of_their_own_without_deployment_labels(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    port = free_port()
    env = lifecycle_env(
        database_url,
        tmp_path / "data",
        openai_server,
        METRICS_PORT=str(port),
        METRICS_DEPLOYMENT_LABELS="false",
    )
    with LiveServer(env) as server:
        async with httpx2.AsyncClient(base_url=server.base_url, timeout=30) as http:
            assert (await http.get("/metrics")).status_code == 404, "not on the API port"
            deployment = await deploy_to(http, "", ask_flow(), "Ask")
            answered = await http.post(
                f"/api/workflows/{deployment['slug']}/execute",
                json={"question": "q"},
                headers=bearer(deployment["apiKey"]),
            )
            assert answered.status_code == 200
            scraped = await scrape(http, f"http://127.0.0.1:{port}/metrics", {})
    assert value(scraped, "clara_executions_total", deployment="", version="", status="success") == 1
    assert not any(dict(labels).get("deployment") for (_, labels) in scraped)
