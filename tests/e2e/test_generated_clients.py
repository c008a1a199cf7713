"""Typed clients generated from a deployment's OpenAPI document, as its users generate them: a Python
client by openapi-python-client that calls execute on the real server (a JSON body, then a multipart
one with real files), and TypeScript types by openapi-typescript that type-check a program built from
the document's own examples (`tsc --noEmit --strict`).

The workflow has every kind of field the built-in nodes publish: text, number, JSON, image and file
inputs; text, untyped and JSON outputs. A type list such as `["object", "array"]` made openapi-python-
client drop the execute function and openapi-typescript type a JSON field so its example did not compile.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.contract.support import EVERY_KIND_FLOW
from tests.contract_tools import node_tool, python_tool, run_tool, write_document
from tests.support import LiveServer
from tests.uploads import png

EXECUTE = "/api/workflows/every-kind/execute"
PACKAGE = "every_kind_client"

CALLER = """
# The multipart body sends an object for the JSON field: openapi-python-client (0.29) ignores the
# document's `encoding` and sends an array as one text part per item, which the server refuses.
import base64, json, sys
from io import BytesIO

from every_kind_client import AuthenticatedClient
from every_kind_client.api.workflow_execution import execute_every_kind
from every_kind_client.models import (
    ExecuteEveryKindFilesBody, ExecuteEveryKindFilesBodyConfigType0, ExecutionResult, WorkflowInputs,
)
from every_kind_client.types import File

base_url, key, image = sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3])
client = AuthenticatedClient(base_url=base_url, token=key)
as_json = WorkflowInputs.from_dict({
    "name": "Ada",
    "count": 2,
    "config": [1, {"two": 2}],
    "photo": "data:image/png;base64," + sys.argv[3],
    "attachment": base64.b64encode(b"hello").decode(),
})
as_form = ExecuteEveryKindFilesBody(
    name="Ada",
    count=2,
    config=ExecuteEveryKindFilesBodyConfigType0.from_dict({"depth": 2}),
    photo=File(payload=BytesIO(image), file_name="red.png", mime_type="image/png"),
    attachment=File(payload=BytesIO(b"hello"), file_name="notes.txt", mime_type="text/plain"),
)
for body in (as_json, as_form):
    result = execute_every_kind.sync(client=client, body=body)
    assert isinstance(result, ExecutionResult), result
    print(json.dumps(result.to_dict()))
"""


@pytest.fixture
def deployed(live_server: LiveServer) -> tuple[str, dict[str, Any]]:
    """The API key of the deployed workflow and its OpenAPI document, as the server serves them."""
    answer = httpx2.post(
        f"{live_server.base_url}/api/deploy", json={"name": "Every Kind", "workflow": EVERY_KIND_FLOW}, timeout=10
    )
    assert answer.status_code == 201, answer.text
    document = httpx2.get(f"{live_server.base_url}/api/workflows/every-kind/openapi.json", timeout=10).json()
    return answer.json()["deployment"]["apiKey"], document


def test_a_generated_python_client_executes_the_workflow(
    live_server: LiveServer, deployed: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    key, document = deployed
    generator = python_tool("openapi-python-client")
    source = write_document(document, tmp_path / "every-kind.json")
    generated = run_tool(
        [generator, "generate", "--path", source, "--output-path", tmp_path / PACKAGE, "--meta", "none"]
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    assert (tmp_path / PACKAGE / "api" / "workflow_execution" / "execute_every_kind.py").exists()

    (tmp_path / "call.py").write_text(CALLER)
    image = png(3, 2)
    called = run_tool(
        [sys.executable, tmp_path / "call.py", live_server.base_url, key, base64.b64encode(image).decode()], tmp_path
    )
    assert called.returncode == 0, called.stdout + called.stderr
    from_json, from_form = (json.loads(line)["outputs"] for line in called.stdout.strip().split("\n"))
    assert from_json["echo"] == from_form["echo"] == "Ada"
    assert from_json["number"] == from_form["number"] == 2
    assert from_json["settings"] == [1, {"two": 2}]
    assert from_form["settings"] == {"depth": 2}
    photo = {"width": 3, "height": 2, "type": "image/png", "size": len(image)}
    assert from_json["photoInfo"] == from_form["photoInfo"] == photo
    assert from_json["fileInfo"]["size"] == from_form["fileInfo"]["size"] == 5
    assert from_form["fileInfo"]["name"] == "notes.txt"


def test_generated_typescript_types_accept_the_documents_examples(
    deployed: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    _, document = deployed
    source = write_document(document, tmp_path / "every-kind.json")
    typed = run_tool([node_tool("openapi-typescript"), source, "--output", tmp_path / "every-kind.ts"])
    assert typed.returncode == 0, typed.stdout + typed.stderr
    operation = document["paths"][EXECUTE]["post"]
    request = operation["requestBody"]["content"]["application/json"]["examples"]["default"]["value"]
    response = operation["responses"]["200"]["content"]["application/json"]["examples"]["default"]["value"]
    (tmp_path / "program.ts").write_text(
        'import type { components, paths } from "./every-kind";\n\n'
        f'type Execute = paths["{EXECUTE}"]["post"];\n'
        'type Body = NonNullable<Execute["requestBody"]>["content"]["application/json"];\n'
        f"const body: Body = {json.dumps(request)};\n"
        f'const result: components["schemas"]["ExecutionResult"] = {json.dumps(response)};\n'
        "const settings: Record<string, unknown> | unknown[] = result.outputs.settings;\n"
        "const names: string[] = [body.name, result.outputs.echo ?? ''];\n"
        "export { settings, names };\n"
    )
    checked = run_tool(
        [
            node_tool("tsc"),
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            tmp_path / "program.ts",
        ]
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
