"""Media and service nodes end to end: deploy over HTTP to a real server process, execute with real
files, and check what reached the loopback Clara backend and ComfyUI."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests import samples
from tests.fakes.clara_backend import FakeClaraBackend
from tests.fakes.comfyui_server import FakeComfyUI
from tests.support import LiveServer, bearer, deploy, server_env


@pytest.fixture
def server(database_url: str, tmp_path: Path, backend: FakeClaraBackend, comfy: FakeComfyUI) -> Iterator[LiveServer]:
    env = server_env(database_url, tmp_path / "data", PYTHON_BACKEND_URL=backend.url, COMFYUI_URL=comfy.url)
    with LiveServer(env) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with server.client() as client:
        yield client


def edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, str]:
    return {"sourceNodeId": source, "sourcePortId": source_port, "targetNodeId": target, "targetPortId": target_port}


DOCUMENT_INTAKE: dict[str, Any] = {
    "nodes": [
        {"id": "photo", "type": "image-input", "data": {"label": "Photo"}},
        {"id": "contract", "type": "pdf-input", "data": {"label": "Contract", "maxPages": 1}},
        {
            "id": "upload",
            "type": "file-upload",
            "data": {"label": "Attachment", "acceptedTypes": "text/*", "outputFormat": "text"},
        },
        {"id": "photo-out", "type": "output", "data": {"outputLabel": "Image"}},
        {"id": "photo-meta", "type": "output", "data": {"outputLabel": "Image Info"}},
        {"id": "contract-out", "type": "output", "data": {"outputLabel": "Contract Text"}},
        {"id": "upload-out", "type": "output", "data": {"outputLabel": "Attachment Text"}},
    ],
    "connections": [
        edge("photo", "base64", "photo-out", "input"),
        edge("photo", "metadata", "photo-meta", "input"),
        edge("contract", "text", "contract-out", "input"),
        edge("upload", "content", "upload-out", "input"),
    ],
}


async def test_file_inputs_become_base64_api_fields_and_check_their_files(http: httpx2.AsyncClient) -> None:
    deployment = await deploy(http, DOCUMENT_INTAKE, name="Intake")
    schema = deployment["schema"]["input"]
    assert schema["required"] == ["photo", "contract", "attachment"]
    assert schema["properties"]["photo"]["contentMediaType"] == "image/*"
    assert schema["properties"]["contract"]["contentMediaType"] == "application/pdf"
    image = samples.png(4, 3)
    body = {
        "photo": samples.b64(image),
        "contract": samples.data_url(samples.pdf(["Term: 12 months"], ["ignored page"]), "application/pdf"),
        "attachment": samples.data_url(b"hello\n", "text/plain"),
    }
    key = bearer(deployment["apiKey"])
    response = await http.post("/api/workflows/intake/execute", json=body, headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {
        "image": samples.data_url(image, "image/png"),
        "imageInfo": {"width": 4, "height": 3, "type": "image/png", "size": len(image)},
        "contractText": "Page 1:\nTerm: 12 months",
        "attachmentText": "hello\n",
    }

    refused = await http.post(
        "/api/workflows/intake/execute", json={**body, "photo": samples.b64(samples.pdf(["x"]))}, headers=key
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "input_validation_failed"
    assert refused.json()["errors"][0]["path"] == "/photo"

    wrong_type = await http.post(
        "/api/workflows/intake/execute", json={**body, "attachment": samples.b64(samples.png())}, headers=key
    )
    assert wrong_type.status_code == 422
    assert "files of type image/png are not accepted here; accepted types: text/*" in wrong_type.json()["message"]


async def test_a_saved_image_makes_the_field_optional(client: httpx2.AsyncClient) -> None:
    saved = samples.data_url(samples.jpeg(), "image/jpeg")
    flow = {
        "nodes": [
            {"id": "photo", "type": "image-input", "data": {"label": "Photo", "imageFile": saved}},
            {"id": "out", "type": "output", "data": {"outputLabel": "Image"}},
        ],
        "connections": [edge("photo", "base64", "out", "input")],
    }
    deployment = await deploy(client, flow, name="Saved Photo")
    assert "required" not in deployment["schema"]["input"]
    assert "default" not in deployment["schema"]["input"]["properties"]["photo"]
    response = await client.post("/api/workflows/saved-photo/execute", json={}, headers=bearer(deployment["apiKey"]))
    assert response.json()["outputs"] == {"image": saved}


GENERATION: dict[str, Any] = {
    "nodes": [
        {"id": "idea", "type": "input", "data": {"label": "Idea"}},
        {"id": "paint", "type": "comfyui-image-gen", "data": {"selectedModel": "sd15.safetensors", "seed": 7}},
        {"id": "speak", "type": "text-to-speech", "data": {}},
        {"id": "ask", "type": "notebook-chat", "data": {"selectedNotebook": "nb-1"}},
        {"id": "image", "type": "output", "data": {"outputLabel": "Image"}},
        {"id": "audio", "type": "output", "data": {"outputLabel": "Audio"}},
        {"id": "answer", "type": "output", "data": {"outputLabel": "Answer"}},
    ],
    "connections": [
        edge("idea", "output", "paint", "prompt"),
        edge("idea", "output", "speak", "text"),
        edge("idea", "output", "ask", "query"),
        edge("paint", "image", "image", "input"),
        edge("speak", "audioUrl", "audio", "input"),
        edge("ask", "answer", "answer", "input"),
    ],
}


async def test_comfyui_speech_and_notebook_nodes_call_the_configured_services(
    http: httpx2.AsyncClient, comfy: FakeComfyUI, backend: FakeClaraBackend
) -> None:
    deployment = await deploy(http, GENERATION, name="Studio Services")
    response = await http.post(
        "/api/workflows/studio-services/execute", json={"idea": "a lighthouse"}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {
        "image": samples.data_url(comfy.image, "image/png"),
        "audio": samples.data_url(samples.wav(), "audio/wav"),
        "answer": "According to the notebook: a lighthouse",
    }
    (graph,) = comfy.posted_graphs()
    assert {node["inputs"].get("text") for node in graph.values()} >= {"a lighthouse"}
    assert backend.last("/synthesize").json()["text"] == "a lighthouse"


async def test_an_unconfigured_notebook_node_is_refused_at_deploy(client: httpx2.AsyncClient) -> None:
    flow = copy.deepcopy(GENERATION)
    flow["nodes"][3]["data"] = {}
    response = await client.post("/api/deploy", json={"name": "Broken", "workflow": flow})
    assert response.status_code == 400
    assert "selectedNotebook is not set" in response.text
