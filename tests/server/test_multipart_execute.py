"""Execute with multipart/form-data: a file part reaches the node as the value the JSON body would give."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx2
import pytest
from openapi_spec_validator import validate

from clara_runner.flow.model import Node
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.nodes.base import ApiRole, NodeCall, NodeType, PortSpec
from clara_runner.runtime.services import Runtime
from clara_runner.server.app import create_app
from clara_runner.server.replies import render_execution
from tests.support import BUILTIN_TYPES_FLOW, asgi_client, bearer, deploy, make_settings
from tests.uploads import multipart, png

MAX_INPUT_SIZE = 64 * 1024


class RecordingFileInput(NodeType):
    """A test-only API input that takes a file (`contentEncoding: base64`) and remembers what it got."""

    type_name = "test-file-input"
    outputs = (PortSpec("output", "Value"),)
    role = ApiRole.INPUT
    inline = True

    def __init__(self) -> None:
        self.received: list[Any] = []

    def api_schema(self, node: Node) -> dict[str, Any]:
        return {"type": "string", "contentEncoding": "base64", "contentMediaType": node.data["mediaType"]}

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        self.received.append(call.external)
        return {"output": call.external}


def _pipe(source: str, target: str) -> dict[str, str]:
    return {"source": source, "target": target, "sourceHandle": "output", "targetHandle": "input"}


UPLOADS: dict[str, Any] = {
    "nodes": [
        {"id": "photo", "type": "test-file-input", "data": {"label": "Photo", "mediaType": "image/png"}},
        {"id": "report", "type": "test-file-input", "data": {"label": "Report", "mediaType": "application/pdf"}},
        {"id": "caption", "type": "input", "data": {"label": "Caption"}},
        {"id": "size", "type": "input", "data": {"label": "Size", "inputType": "number"}},
        {"id": "photo-out", "type": "output", "data": {"outputLabel": "Photo"}},
        {"id": "report-out", "type": "output", "data": {"outputLabel": "Report"}},
        {"id": "caption-out", "type": "output", "data": {"outputLabel": "Caption"}},
        {"id": "size-out", "type": "output", "data": {"outputLabel": "Size"}},
    ],
    "connections": [
        _pipe("photo", "photo-out"),
        _pipe("report", "report-out"),
        _pipe("caption", "caption-out"),
        _pipe("size", "size-out"),
    ],
}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n\x00\xff\xfe binary\n%%EOF\n"


@pytest.fixture
def file_input() -> RecordingFileInput:
    return RecordingFileInput()


@pytest.fixture
async def upload_client(
    database_url: str, tmp_path: Path, file_input: RecordingFileInput
) -> AsyncIterator[httpx2.AsyncClient]:
    settings = make_settings(database_url, tmp_path / "data", MAX_INPUT_SIZE=MAX_INPUT_SIZE)
    registry = default_registry()
    registry.register(file_input)
    application = create_app(settings, Runtime.build(settings, registry, render=render_execution))
    async with application.router.lifespan_context(application), asgi_client(application) as http:
        yield http


async def _deploy_uploads(client: httpx2.AsyncClient) -> dict[str, str]:
    return bearer((await deploy(client, UPLOADS, name="Uploads"))["apiKey"])


async def test_a_multipart_png_reaches_the_node_as_the_json_value_would(
    upload_client: httpx2.AsyncClient, file_input: RecordingFileInput
) -> None:
    headers = await _deploy_uploads(upload_client)
    image = png(3, 2)
    data_url = "data:image/png;name=red.png;base64," + base64.b64encode(image).decode()
    pdf_url = "data:application/pdf;name=r.pdf;base64," + base64.b64encode(PDF).decode()

    as_json = await upload_client.post(
        "/api/workflows/uploads/execute",
        json={"photo": data_url, "report": pdf_url, "caption": "A red square", "size": 3},
        headers=headers,
    )
    assert as_json.status_code == 200, as_json.text
    as_form = await upload_client.post(
        "/api/workflows/uploads/execute",
        data={"caption": "A red square", "size": "3"},
        files={"photo": ("red.png", image, "image/png"), "report": ("r.pdf", PDF, "application/pdf")},
        headers=headers,
    )
    assert as_form.status_code == 200, as_form.text
    assert as_form.json()["outputs"] == as_json.json()["outputs"]
    assert as_form.json()["outputs"] == {"photo": data_url, "report": pdf_url, "caption": "A red square", "size": 3}
    assert file_input.received == [data_url, pdf_url, data_url, pdf_url]

    history = (await upload_client.get("/api/workflows/uploads/executions", headers=headers)).json()["executions"]
    assert history[0]["inputs"] == history[1]["inputs"]


async def test_multipart_inputs_are_validated_like_json(upload_client: httpx2.AsyncClient) -> None:
    headers = await _deploy_uploads(upload_client)
    response = await upload_client.post(
        "/api/workflows/uploads/execute",
        data={"caption": "c", "size": "big", "extra": "x"},
        files={"photo": ("p.png", png(), "image/png"), "report": ("r.pdf", PDF, "application/pdf")},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "input_validation_failed"
    problems = " ".join(response.json()["validationErrors"])
    assert "size" in problems
    assert "extra" in problems


async def test_a_malformed_multipart_body_is_a_400_that_is_recorded(upload_client: httpx2.AsyncClient) -> None:
    headers = await _deploy_uploads(upload_client)
    truncated, content_type = multipart(files={"photo": ("p.png", png(), "image/png")})
    for body, declared in ((truncated[:-20], content_type), (b"--a\r\n", "multipart/form-data")):
        response = await upload_client.post(
            "/api/workflows/uploads/execute", content=body, headers=headers | {"Content-Type": declared}
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "malformed_multipart"
    history = (await upload_client.get("/api/workflows/uploads/executions", headers=headers)).json()["executions"]
    assert [item["errorCode"] for item in history] == ["malformed_multipart"] * 2


async def test_the_size_limit_applies_to_multipart_bodies_chunked_or_not(upload_client: httpx2.AsyncClient) -> None:
    headers = await _deploy_uploads(upload_client)
    body, content_type = multipart(files={"report": ("big.pdf", b"%PDF" + b"0" * MAX_INPUT_SIZE, "application/pdf")})
    declared = await upload_client.post(
        "/api/workflows/uploads/execute", content=body, headers=headers | {"Content-Type": content_type}
    )
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    chunked = await upload_client.post(
        "/api/workflows/uploads/execute", content=chunks(), headers=headers | {"Content-Type": content_type}
    )
    assert chunked.status_code == 413
    assert chunked.json()["code"] == "payload_too_large"


async def test_the_openapi_document_offers_multipart_with_binary_file_parts(upload_client: httpx2.AsyncClient) -> None:
    await _deploy_uploads(upload_client)
    document = (await upload_client.get("/api/workflows/uploads/schema")).json()
    validate(document)
    operation = document["paths"]["/api/workflows/uploads/execute"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]
    properties = form["schema"]["properties"]
    assert properties["photo"]["format"] == "binary"
    assert properties["photo"]["contentMediaType"] == "image/png"
    assert "contentEncoding" not in properties["photo"]
    assert properties["report"]["format"] == "binary"
    assert properties["caption"]["type"] == "string"
    assert properties["size"]["type"] == "number"
    assert form["encoding"] == {"photo": {"contentType": "image/png"}, "report": {"contentType": "application/pdf"}}
    assert form["schema"]["additionalProperties"] is False
    json_schema = document["components"]["schemas"]["Input"]
    assert form["schema"]["required"] == json_schema["required"]
    assert json_schema["properties"]["photo"]["contentEncoding"] == "base64"
    headers = {parameter["name"]: parameter for parameter in operation["parameters"]}
    header = headers["X-Workflow-Version"]
    assert (header["in"], header["schema"]["type"]) == ("header", "integer")


async def test_a_json_field_is_one_application_json_part_as_the_document_declares(
    upload_client: httpx2.AsyncClient,
) -> None:
    """The encoding object tells generated clients to send a JSON field as one JSON part (an array sent
    as one part per item is refused as `malformed_multipart`); sent so, it reaches the run as JSON would."""
    headers = bearer((await deploy(upload_client, BUILTIN_TYPES_FLOW, name="Typed"))["apiKey"])
    document = (await upload_client.get("/api/workflows/typed/schema")).json()
    form = document["paths"]["/api/workflows/typed/execute"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["encoding"] == {"config": {"contentType": "application/json"}}
    content_type = form["encoding"]["config"]["contentType"]
    response = await upload_client.post(
        "/api/workflows/typed/execute",
        data={"name": "Ada", "count": "2"},
        files={"config": (None, b'[1, {"two": 2}]', content_type)},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {"echo": "Ada", "number": 2, "settings": [1, {"two": 2}]}
