"""Schemathesis over the real server: generated requests (valid and invalid) against every operation
of the management API and of deployed workflows' own OpenAPI documents never get a 5xx."""

from __future__ import annotations

from typing import Any

import httpx2
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.support import HELLO_WORLD, LiveServer

TYPED_WORKFLOW: dict[str, Any] = {
    "nodes": [
        {"id": "n", "type": "input", "data": {"label": "Count", "inputType": "number"}},
        {"id": "j", "type": "input", "data": {"label": "Payload", "inputType": "json", "value": "{}"}},
        {"id": "t", "type": "input", "data": {"label": "Note", "value": "-"}},
        {"id": "c", "type": "combine-text", "data": {}},
        {"id": "p", "type": "json-parse", "data": {"extractField": "a.b"}},
        {"id": "o1", "type": "output", "data": {"outputLabel": "Joined", "format": "text"}},
        {"id": "o2", "type": "output", "data": {"outputLabel": "Parsed"}},
    ],
    "connections": [
        {"source": "n", "target": "c", "targetHandle": "text1"},
        {"source": "t", "target": "c", "targetHandle": "text2"},
        {"source": "c", "target": "o1"},
        {"source": "j", "target": "p"},
        {"source": "p", "target": "o2"},
    ],
}


def _fuzz(schema: OpenApiSchema, base_url: str, headers: dict[str, str], examples: int) -> tuple[list[str], set[str]]:
    """Every generated case that got a 5xx (as a curl command), and the operations fuzzed."""
    failures: list[str] = []
    operations: set[str] = set()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        operations.add(operation.label)

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Case[Any]) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {case.as_curl_command()} -> {response.text[:300]}")

        check()
    return failures, operations


def _deploy(server: LiveServer, name: str, workflow: dict[str, Any]) -> tuple[str, str]:
    response = httpx2.post(f"{server.base_url}/api/deploy", json={"name": name, "workflow": workflow})
    assert response.status_code == 201, response.text
    deployment = response.json()["deployment"]
    return deployment["slug"], deployment["apiKey"]


def test_the_management_api_answers_no_5xx(live_server: LiveServer) -> None:
    _deploy(live_server, "Hello World", HELLO_WORLD)
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/api/openapi.json")
    failures, operations = _fuzz(schema, live_server.base_url, {}, examples=40)
    assert failures == []
    assert {
        "POST /api/deploy",
        "POST /api/workflows/{slug}/execute",
        "DELETE /api/workflows/{deployment_id}",
    } <= operations
    assert httpx2.get(f"{live_server.base_url}/health").status_code == 200


def test_deployed_workflows_answer_no_5xx(live_server: LiveServer) -> None:
    for name, workflow in (("Hello World", HELLO_WORLD), ("Typed", TYPED_WORKFLOW)):
        slug, key = _deploy(live_server, name, workflow)
        schema = schemathesis.openapi.from_url(f"{live_server.base_url}/api/workflows/{slug}/schema")
        headers = {"Authorization": f"Bearer {key}"}
        failures, operations = _fuzz(schema, live_server.base_url, headers, examples=80)
        assert failures == []
        assert f"POST /api/workflows/{slug}/execute" in operations
    assert httpx2.get(f"{live_server.base_url}/health").status_code == 200
