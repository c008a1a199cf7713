"""Every real Agent Studio export in tests/fixtures/workflows deploys and runs end to end.

Most exports have their own end-to-end test next to the node family they exercise
(test_llm_workflows.py, test_media_workflows.py, test_custom_nodes_e2e.py, test_fuzz.py); this file
runs the two that need services of several families at once (the Clara backend, an LLM, the Clara
Assistant), and checks that no export is left without an end-to-end test.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from tests import samples
from tests.e2e.test_llm_workflows import pointed_at
from tests.fakes.clara_assistant import FakeClaraAssistant
from tests.fakes.clara_backend import FakeClaraBackend
from tests.fakes.openai_server import FakeOpenAI, last_user_text
from tests.support import WORKFLOWS, LiveServer, bearer, deploy, server_env, shared_workflow


@pytest.fixture
def studio_server(
    database_url: str,
    tmp_path: Path,
    backend: FakeClaraBackend,
    openai_server: FakeOpenAI,
    clara_assistant: FakeClaraAssistant,
) -> Iterator[LiveServer]:
    env = server_env(
        database_url,
        tmp_path / "data",
        PYTHON_BACKEND_URL=backend.url,
        OPENAI_API_BASE_URL=openai_server.base_url,
        CLARA_ASSISTANT_URL=clara_assistant.url,
    )
    with LiveServer(env) as server:
        yield server


@pytest.fixture
async def http(studio_server: LiveServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with studio_server.client() as client:
        yield client


async def test_audio_transcription_transcribes_then_audits_the_call(
    http: httpx2.AsyncClient, backend: FakeClaraBackend, openai_server: FakeOpenAI
) -> None:
    workflow = pointed_at(shared_workflow("audio-transcription.json"), openai_server.base_url)
    deployment = await deploy(http, workflow, name="Call Audit")
    (field,) = deployment["schema"]["input"]["properties"]
    audio = samples.wav()
    response = await http.post(
        f"/api/workflows/{deployment['slug']}/execute",
        json={field: samples.data_url(audio, "audio/wav")},
        headers=bearer(deployment["apiKey"]),
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    (completion,) = openai_server.completions()
    system, user = completion["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are a transcritpion auditor")
    assert user["content"].startswith(backend.transcript + " Here is the transcription content of a call")
    assert sorted(map(str, outputs.values())) == sorted(
        [
            backend.transcript,
            str([{"id": 1, "start": 0.0, "end": 2.4, "text": backend.transcript, "words": []}]),
            f"echo: {last_user_text(completion)}",
        ]
    )
    assert backend.last("/transcribe").files["file"][0].data == audio


async def test_notebook_data_analysis_sends_the_file_text_to_the_agent(
    http: httpx2.AsyncClient, clara_assistant: FakeClaraAssistant
) -> None:
    deployment = await deploy(http, shared_workflow("notebook-data-analysis.json"), name="Data Analysis")
    (field,) = deployment["schema"]["input"]["properties"]
    csv = b"month,sales\njan,10\nfeb,12\n"
    response = await http.post(
        f"/api/workflows/{deployment['slug']}/execute",
        json={field: samples.data_url(csv, "text/csv")},
        headers=bearer(deployment["apiKey"]),
    )
    assert response.status_code == 200, response.text
    (execution,) = clara_assistant.executions()
    instructions = execution["instructions"]
    assert instructions.startswith(csv.decode() + " i have provided the csv data")
    assert execution["config"]["enabledMCPServers"] == ["python-mcp"]
    assert list(response.json()["outputs"].values()) == [f"assistant did: {instructions}"]


def test_every_shared_export_has_an_end_to_end_test() -> None:
    sources = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    exercised = set(re.findall(r'shared_workflow\("([^"]+)"\)', sources)) | set(
        re.findall(r'"([^"]+\.json)":', sources)
    )
    assert {path.name for path in WORKFLOWS.glob("*.json")} <= exercised
