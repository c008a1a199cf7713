"""A loopback ComfyUI: `POST /prompt`, `GET /history/{prompt_id}`, `GET /view`, `GET /object_info/...`,
`POST /queue`, with ComfyUI's response shapes (validation errors, execution errors, an empty history
while a prompt is pending) and a real PNG as the generated image."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer
from tests.samples import png

Outcome = Literal["success", "error", "never"]
IMAGE_NAME = "clara_00001_.png"


class FakeComfyUI(LoopbackServer):
    def __init__(self, models: tuple[str, ...] = ("sd15.safetensors",), polls: int = 2, outcome: Outcome = "success"):
        self.models = list(models)
        self.polls = polls
        """How many history polls answer `{}` (pending) before the prompt settles."""
        self.outcome = outcome
        self.image = png(2, 2, (10, 200, 30))
        self.prompts: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        super().__init__(
            [
                Route("/prompt", self._prompt, methods=["POST"]),
                Route("/history/{prompt_id}", self._history),
                Route("/view", self._view),
                Route("/object_info/{node_class}", self._object_info),
                Route("/queue", self._queue, methods=["POST"]),
            ]
        )

    async def _prompt(self, request: Request) -> Response:
        posted = await request.json()
        graph = posted.get("prompt")
        if not isinstance(graph, dict):
            return _invalid({"type": "no_prompt", "message": "No prompt provided", "details": ""}, {})
        loader = next((node for node in graph.values() if node.get("class_type") == "CheckpointLoaderSimple"), None)
        checkpoint = (loader or {}).get("inputs", {}).get("ckpt_name")
        if checkpoint not in self.models:
            node_id = next(key for key, node in graph.items() if node is loader) if loader else "?"
            error = {"type": "value_not_in_list", "message": "Value not in list"}
            error["details"] = f"ckpt_name: '{checkpoint}' not in {self.models}"
            node_errors = {node_id: {"errors": [error], "class_type": "CheckpointLoaderSimple"}}
            headline = {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"}
            return _invalid(headline, node_errors)
        prompt_id = str(uuid.uuid4())
        self.prompts[prompt_id] = {"graph": graph, "polls": 0, "client_id": posted.get("client_id")}
        return JSONResponse({"prompt_id": prompt_id, "number": len(self.prompts), "node_errors": {}})

    async def _history(self, request: Request) -> Response:
        prompt_id = request.path_params["prompt_id"]
        state = self.prompts.get(prompt_id)
        if state is None:
            return JSONResponse({})
        state["polls"] += 1
        if self.outcome == "never" or state["polls"] <= self.polls:
            return JSONResponse({})
        save_node = next(key for key, node in state["graph"].items() if node["class_type"] == "SaveImage")
        if self.outcome == "error":
            failure = {"prompt_id": prompt_id, "node_id": "3", "node_type": "KSampler"}
            failure["exception_message"] = "CUDA out of memory"
            status = {"status_str": "error", "completed": False, "messages": [["execution_error", failure]]}
            return JSONResponse({prompt_id: {"prompt": [], "outputs": {}, "status": status}})
        images = [{"filename": IMAGE_NAME, "subfolder": "", "type": "output"}]
        status = {"status_str": "success", "completed": True, "messages": [["execution_success", {}]]}
        entry = {"prompt": [], "outputs": {save_node: {"images": images}}, "status": status}
        return JSONResponse({prompt_id: entry})

    async def _view(self, request: Request) -> Response:
        query = request.query_params
        if query.get("filename") != IMAGE_NAME or query.get("type") != "output":
            return Response(status_code=404)
        return Response(self.image, media_type="image/png")

    async def _object_info(self, request: Request) -> Response:
        if request.path_params["node_class"] != "CheckpointLoaderSimple":
            return JSONResponse({})
        required = {"ckpt_name": [self.models, {"tooltip": "The checkpoint to load."}]}
        return JSONResponse({"CheckpointLoaderSimple": {"input": {"required": required}, "output": ["MODEL"]}})

    async def _queue(self, request: Request) -> Response:
        self.deleted.extend((await request.json()).get("delete", []))
        return Response(status_code=200)

    def posted_graphs(self) -> list[dict[str, Any]]:
        return [state["graph"] for state in self.prompts.values()]


def _invalid(error: dict[str, Any], node_errors: dict[str, Any]) -> Response:
    return JSONResponse({"error": {**error, "extra_info": {}}, "node_errors": node_errors}, status_code=400)
