"""`/metrics` of a real `clara-runner serve` with two uvicorn workers: scraped with Prometheus's text
parser, its values sum both processes and move as requests are made. A `clara-runner worker` of the
queue backend serves the runs it ran on its own `METRICS_PORT`, counted there and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.lifecycle import lifecycle_env
from tests.e2e.queue_cluster import LiveWorker, queue_env
from tests.fakes.openai_server import FakeOpenAI
from tests.support import LiveServer, ask_flow, bearer, deploy_to, free_port, on_postgres

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


@pytest.mark.skipif(not on_postgres(), reason="the queue backend runs on PostgreSQL only")
async def test_a_queue_worker_serves_the_runs_it_ran_on_its_own_port(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    """The server and the worker share a `PROMETHEUS_MULTIPROC_DIR`, as processes on one machine may: the
    server's scrape sums only its own processes, so each run is counted once, by the worker that ran it."""
    port, runs = free_port(), 4
    env = lifecycle_env(
        database_url,
        tmp_path / "data",
        openai_server,
        CLARA_ADMIN_KEY=ADMIN_KEY,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    admin = bearer(ADMIN_KEY)
    with (
        LiveServer(queue_env(env), ["--workers", "2"]) as server,
        LiveWorker(queue_env(env, METRICS_PORT=str(port)), concurrency=2) as worker,
    ):
        async with httpx2.AsyncClient(base_url=server.base_url, timeout=60) as http:
            deployed = await http.post("/api/deploy", json={"name": "Ask", "workflow": ask_flow()}, headers=admin)
            assert deployed.status_code == 201, deployed.text
            deployment = deployed.json()["deployment"]
            worker_before = await scrape(http, f"http://127.0.0.1:{port}/metrics", {})
            server_before = await scrape(http, "/metrics", admin)
            for index in range(runs):
                answered = await http.post(
                    f"/api/workflows/{deployment['slug']}/execute",
                    json={"question": f"q{index}"},
                    headers=bearer(deployment["apiKey"]),
                )
                assert answered.status_code == 200, answered.text
            worker_after = await scrape(http, f"http://127.0.0.1:{port}/metrics", {})
            server_after = await scrape(http, "/metrics", admin)
    assert f"metrics on http://127.0.0.1:{port}/metrics" in worker.output()

    def on_worker(name: str, **labels: str) -> float:
        return value(worker_after, name, **labels) - value(worker_before, name, **labels)

    def on_server(name: str, **labels: str) -> float:
        return value(server_after, name, **labels) - value(server_before, name, **labels)

    assert on_worker("clara_executions_total", deployment="ask", version="1", status="success") == runs
    assert on_worker("clara_executions_total") == runs
    assert on_worker("clara_execution_duration_seconds_count", deployment="ask", status="success") == runs
    assert on_worker("clara_node_duration_seconds_count", node_type="llm", status="success") == runs
    assert on_worker("clara_llm_calls_total", provider="openai", outcome="ok") == runs
    assert on_worker("clara_llm_tokens_total", provider="openai", kind="prompt") == 11 * runs
    assert on_worker("clara_llm_tokens_total", provider="openai", kind="completion") == 7 * runs
    assert on_worker("clara_execution_queue_wait_seconds_count") == runs
    assert value(worker_after, "clara_http_request_duration_seconds_count") == 0, "a worker answers no requests"
    assert on_server("clara_http_request_duration_seconds_count", route=EXECUTE, status="200", method="POST") == runs
    assert on_server("clara_executions_total") == 0, "the server relays the runs: the worker counts them"
    assert on_server("clara_llm_calls_total") == 0
