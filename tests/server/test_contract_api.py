"""The contract over HTTP: deploy options and warnings, details with snippets, the published documents,
and real error responses checked against the Error schema the documents publish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from clara_runner.contract.media import data_url, tiny_pdf, tiny_png
from clara_runner.contract.snippets import SNIPPETS
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.runtime.services import Runtime
from clara_runner.server.app import create_app
from clara_runner.server.replies import render_execution
from clara_runner.settings import Settings
from tests.contract.support import TYPED_FLOW, edge
from tests.file_nodes import registry_with_file_nodes
from tests.openapi_checks import check_document, schema_errors
from tests.support import HELLO_WORLD, asgi_client, bearer, deploy, make_settings

ERROR = {"$ref": "#/components/schemas/Error"}


class SlowNode(NodeType):
    type_name = "test-slow"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Output"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        await asyncio.sleep(5)
        return {"output": call.inputs.get("input")}


def registry_with_slow_node() -> NodeRegistry:
    registry = registry_with_file_nodes()
    registry.register(SlowNode())
    return registry


@pytest.fixture
async def typed_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app with the test-only file and slow node types, and a 300 ms execution limit."""
    settings: Settings = make_settings(database_url, tmp_path / "data", MAX_EXECUTION_TIME=300)
    application = create_app(settings, Runtime.build(settings, registry_with_slow_node(), render=render_execution))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def typed_client(typed_app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    async with asgi_client(typed_app) as http:
        yield http


async def document_of(client: httpx2.AsyncClient, slug: str) -> dict[str, Any]:
    response = await client.get(f"/api/workflows/{slug}/schema")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def documented(document: Mapping[str, Any], slug: str, response: httpx2.Response) -> None:
    """The response's status is documented for execute and its body matches the documented schema."""
    responses = document["paths"][f"/api/workflows/{slug}/execute"]["post"]["responses"]
    assert str(response.status_code) in responses, response.text
    schema = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    assert schema_errors(document, schema, response.json()) == []


async def test_deploy_reports_renamed_fields_and_the_default_options(client: httpx2.AsyncClient) -> None:
    flow = {
        "nodes": [
            {"id": "a", "type": "input", "data": {"label": "Input"}},
            {"id": "b", "type": "input", "data": {"label": "Input"}},
            {"id": "o", "type": "output", "data": {}},
        ],
        "connections": [edge("a", "o"), edge("b", "o")],
    }
    deployment = await deploy(client, flow, name="Twins")
    assert len(deployment["warnings"]) == 1
    assert "exposed as 'input2'" in deployment["warnings"][0]
    assert list(deployment["schema"]["input"]["properties"]) == ["input", "input2"]
    assert deployment["schema"]["options"] == {"allowUnknownFields": False}


async def test_allow_unknown_fields_is_stored_with_the_version_and_honoured(client: httpx2.AsyncClient) -> None:
    open_deployment = await deploy(client, name="Open", allowUnknownFields=True)
    closed = await deploy(client, name="Closed")
    assert open_deployment["schema"]["options"] == {"allowUnknownFields": True}
    body = {"name": "Ada", "extra": 1}
    accepted = await client.post("/api/workflows/open/execute", json=body, headers=bearer(open_deployment["apiKey"]))
    assert accepted.status_code == 200
    assert accepted.json()["outputs"] == {"greeting": "Ada"}
    refused = await client.post("/api/workflows/closed/execute", json=body, headers=bearer(closed["apiKey"]))
    assert refused.status_code == 400
    assert refused.json()["validationErrors"] == ["Unknown field: extra"]
    details = (await client.get("/api/workflows/open")).json()["workflow"]
    assert details["schema"]["options"] == {"allowUnknownFields": True}
    assert "additionalProperties" not in details["schema"]["openapi"]["components"]["schemas"]["Input"]


async def test_a_bad_allow_unknown_fields_value_is_a_validation_error(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/api/deploy", json={"name": "x", "workflow": HELLO_WORLD, "allowUnknownFields": "sometimes"}
    )
    assert response.status_code == 400
    assert response.json()["validationErrors"] == ["allowUnknownFields must be true or false"]


async def test_details_carry_snippets_and_the_same_document_as_schema(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    details = (await client.get("/api/workflows/hello-world")).json()["workflow"]
    assert list(details["snippets"]) == [snippet.key for snippet in SNIPPETS]
    assert "http://localhost/api/workflows/hello-world/execute" in details["snippets"]["curl"]
    schema = await document_of(client, "hello-world")
    assert (await client.get("/api/workflows/hello-world/openapi.json")).json() == schema
    assert details["schema"]["openapi"] == schema
    check_document(schema)


async def test_documents_use_the_configured_base_url(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", BASE_URL="https://api.example.com/")
    application = create_app(settings)
    async with application.router.lifespan_context(application), asgi_client(application) as http:
        await deploy(http)
        document = await document_of(http, "hello-world")
        snippets = (await http.get("/api/workflows/hello-world")).json()["workflow"]["snippets"]
    assert document["servers"][0]["url"] == "https://api.example.com"
    assert "https://api.example.com/api/workflows/hello-world/execute" in snippets["python"]


async def test_real_error_responses_match_the_published_error_schema(
    typed_client: httpx2.AsyncClient,
) -> None:
    failing = {
        "nodes": [
            {"id": "in", "type": "input", "data": {"label": "Text"}},
            {"id": "parse", "type": "json-parse", "data": {"failOnError": True}},
            {"id": "slow", "type": "test-slow", "data": {}},
            {"id": "out", "type": "output", "data": {}},
            {"id": "late", "type": "output", "data": {"outputLabel": "Late"}},
        ],
        "connections": [edge("in", "parse"), edge("parse", "out"), edge("in", "slow"), edge("slow", "late")],
    }
    key = (await deploy(typed_client, failing, name="Failing"))["apiKey"]
    other_key = (await deploy(typed_client, name="Other"))["apiKey"]
    document = await document_of(typed_client, "failing")
    url = "/api/workflows/failing/execute"
    cases = [
        (await typed_client.post(url, json={"text": 1, "x": 2}, headers=bearer(key)), 400),
        (await typed_client.post(url, content=b"{nope", headers=bearer(key)), 400),
        (await typed_client.post(url, json={"text": "{}"}), 401),
        (await typed_client.post(url, json={"text": "{}"}, headers=bearer("clara_sk_" + "0" * 64)), 401),
        (await typed_client.post(url, json={"text": "{}"}, headers=bearer(other_key)), 403),
        (await typed_client.post(url, content=b"x" * (10 * 1024 * 1024 + 1), headers=bearer(key)), 413),
        (await typed_client.post(url, json={"text": "not json"}, headers=bearer(key)), 422),
        (await typed_client.post(url, json={"text": "{}"}, headers=bearer(key)), 504),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        documented(document, "failing", response)
    assert cases[2][0].headers["WWW-Authenticate"] == 'Bearer realm="clara"'
    assert cases[6][0].json()["nodeId"] == "parse"


async def test_file_fields_are_decoded_and_checked_over_http(typed_client: httpx2.AsyncClient) -> None:
    flow = {
        "nodes": [
            *TYPED_FLOW["nodes"],
            {"id": "pdf-size", "type": "output", "data": {"outputLabel": "Report Size"}},
        ],
        "connections": [*TYPED_FLOW["connections"], edge("report", "pdf-size", "size")],
    }
    key = (await deploy(typed_client, flow, name="Files"))["apiKey"]
    document = await document_of(typed_client, "files")
    png, pdf = data_url("image/png", tiny_png()), data_url("application/pdf", tiny_pdf())
    good = {"userName": "Ada", "count": 1, "photo": png, "report": pdf}
    response = await typed_client.post("/api/workflows/files/execute", json=good, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["photoSize"] == len(png)
    assert response.json()["outputs"]["reportSize"] == len(pdf)
    documented(document, "files", response)
    swapped = good | {"photo": pdf, "report": png}
    response = await typed_client.post("/api/workflows/files/execute", json=swapped, headers=bearer(key))
    assert response.status_code == 400
    assert [error["path"] for error in response.json()["errors"]] == ["/photo", "/report"]
    documented(document, "files", response)


async def test_the_documented_example_input_runs(typed_client: httpx2.AsyncClient) -> None:
    key = (await deploy(typed_client, TYPED_FLOW, name="Typed"))["apiKey"]
    document = await document_of(typed_client, "typed")
    operation = document["paths"]["/api/workflows/typed/execute"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["examples"]["default"]["value"]
    response = await typed_client.post("/api/workflows/typed/execute", json=example, headers=bearer(key))
    assert response.status_code == 200, response.text
    documented(document, "typed", response)
    empty = await typed_client.post("/api/workflows/typed/execute", json={}, headers=bearer(key))
    documented_example = operation["responses"]["400"]["content"]["application/json"]["examples"]["validation"]
    assert empty.json()["validationErrors"] == documented_example["value"]["validationErrors"]
    assert empty.json()["errors"] == documented_example["value"]["errors"]


async def test_an_empty_body_counts_as_an_empty_object(client: httpx2.AsyncClient) -> None:
    """Found by schemathesis: the document said a body was required while an empty one runs the workflow."""
    optional = {
        "nodes": [
            {"id": "i", "type": "input", "data": {"label": "Text", "value": "default"}},
            {"id": "o", "type": "output", "data": {}},
        ],
        "connections": [edge("i", "o")],
    }
    optional_key = (await deploy(client, optional, name="Optional"))["apiKey"]
    required_key = (await deploy(client, name="Required"))["apiKey"]
    document = await document_of(client, "optional")
    assert document["paths"]["/api/workflows/optional/execute"]["post"]["requestBody"]["required"] is False
    ran = await client.post("/api/workflows/optional/execute", headers=bearer(optional_key))
    assert ran.status_code == 200
    assert ran.json()["outputs"] == {"o": "default"}
    refused = await client.post("/api/workflows/required/execute", headers=bearer(required_key))
    assert refused.json()["validationErrors"] == ["Missing required field: name"]


async def test_method_not_allowed_names_every_method_of_the_path(client: httpx2.AsyncClient) -> None:
    """Found by schemathesis: a 405 had no Allow header, then only the first route's methods."""
    await deploy(client)
    response = await client.request("OPTIONS", "/api/workflows/hello-world")
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET, PUT"
    assert response.json()["code"] == "method_not_allowed"
    assert (await client.patch("/api/deploy")).headers["Allow"] == "POST"
