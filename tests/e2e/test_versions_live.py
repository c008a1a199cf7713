"""Versions, pinning and multipart through the real server over HTTP."""

from __future__ import annotations

import httpx2

from tests.server.test_versions import GREETER
from tests.support import HELLO_WORLD, LiveServer, bearer


def test_versions_pinning_rollback_and_a_multipart_call_over_http(live_server: LiveServer) -> None:
    with httpx2.Client(base_url=live_server.base_url, timeout=10) as http:
        deployed = http.post("/api/deploy", json={"name": "Hello World", "workflow": HELLO_WORLD})
        assert deployed.status_code == 201, deployed.text
        key = bearer(deployed.json()["deployment"]["apiKey"])
        execute = "/api/workflows/hello-world/execute"
        assert http.post(execute, json={"name": "Ada"}, headers=key).json()["metadata"]["version"] == 1

        put = http.put("/api/workflows/hello-world", json={"workflow": GREETER}, headers=key)
        assert put.status_code == 200, put.text
        current = http.post(execute, json={"name": "Ada"}, headers=key).json()
        assert (current["outputs"], current["metadata"]["version"]) == ({"greeting": "Hello Ada"}, 2)
        pinned = http.post(execute, json={"name": "Ada"}, headers=key | {"X-Workflow-Version": "1"}).json()
        assert (pinned["outputs"], pinned["metadata"]["version"]) == ({"greeting": "Ada"}, 1)

        uploaded = http.post(execute, files={"name": ("name.txt", b"Grace", "text/plain")}, headers=key)
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["outputs"] == {"greeting": "Hello Grace"}

        assert http.post("/api/workflows/hello-world/rollback").json()["workflow"]["version"] == 1
        after = http.post(execute, json={"name": "Ada"}, headers=key).json()
        assert (after["outputs"], after["metadata"]["version"]) == ({"greeting": "Ada"}, 1)
        history = http.get("/api/workflows/hello-world/executions", headers=key).json()["executions"]
        assert [item["version"] for item in history] == [1, 2, 1, 2, 1]
