"""`comfyui-image-gen`: text to image with ComfyUI's HTTP API at the operator's `COMFYUI_URL`.

The node builds the standard text-to-image prompt graph (checkpoint loader, positive and negative
CLIP text encoders, empty latent, KSampler, VAE decode, SaveImage), queues it with `POST /prompt`,
polls `GET /history/{prompt_id}` until the image is saved (bounded by a timeout), downloads it with
`GET /view` and returns it as a data URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx2

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.payloads import data_url, normalise_type, sniff
from clara_runner.flow.nodes.remote import error_detail, json_body, send
from clara_runner.flow.nodes.values import as_text, to_number

COMFYUI = "ComfyUI"
SAVE_NODE = "9"


def prompt_graph(settings: Mapping[str, Any]) -> dict[str, Any]:
    """ComfyUI's API-format graph for one text-to-image generation."""
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": settings["seed"],
                "steps": settings["steps"],
                "cfg": settings["guidanceScale"],
                "sampler_name": settings["sampler"],
                "scheduler": settings["scheduler"],
                "denoise": settings["denoise"],
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": settings["model"]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": settings["width"], "height": settings["height"], "batch_size": 1},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": settings["prompt"], "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": settings["negativePrompt"], "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        SAVE_NODE: {"class_type": "SaveImage", "inputs": {"filename_prefix": "clara", "images": ["8", 0]}},
    }


class ComfyUIImageGenNode(NodeType):
    """Generates an image from the `prompt` input (or the node's saved `prompt`)."""

    type_name = "comfyui-image-gen"
    title = "ComfyUI Image Generator"
    inputs = (PortSpec("prompt", "Prompt", "string"),)
    outputs = (PortSpec("image", "Generated Image", "string"), PortSpec("metadata", "Metadata", "object"))
    defaults = {
        "prompt": "",
        "selectedModel": "",
        "steps": 20,
        "guidanceScale": 7.5,
        "denoise": 1.0,
        "sampler": "euler",
        "scheduler": "normal",
        "width": 512,
        "height": 512,
        "negativePrompt": "",
        "seed": -1,
    }

    def __init__(self, timeout: float = 300.0, poll_interval: float = 0.25) -> None:
        self._timeout = timeout
        self._poll_interval = poll_interval

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        prompt = as_text(call.inputs.get("prompt")).strip() or call.text_prop("prompt").strip()
        if not prompt:
            raise NodeError("comfyui-image-gen needs a prompt: nothing arrived on its prompt input")
        base = call.context.services.comfyui_url.rstrip("/")
        started = time.perf_counter()
        model = call.text_prop("selectedModel").strip() or await _first_model(call, base)
        settings = _settings(call, prompt, model)
        queued = json_body(
            await send(
                call,
                COMFYUI,
                "POST",
                f"{base}/prompt",
                json={"prompt": prompt_graph(settings), "client_id": uuid.uuid4().hex},
                describe=_prompt_error,
            ),
            COMFYUI,
        )
        prompt_id = queued.get("prompt_id") if isinstance(queued, Mapping) else None
        if not isinstance(prompt_id, str) or not prompt_id:
            raise NodeError(f"{COMFYUI} queued the prompt but gave no prompt_id")
        image = _first_image(await self._wait_for_outputs(call, base, prompt_id))
        view = await send(call, COMFYUI, "GET", f"{base}/view", params=image)
        declared = normalise_type(view.headers.get("content-type", ""))
        media_type = declared if declared.startswith("image/") else sniff(view.content) or "image/png"
        metadata = {
            **{key: settings[key] for key in settings if key != "model"},
            "model": model,
            "promptId": prompt_id,
            "filename": image["filename"],
            "duration": round((time.perf_counter() - started) * 1000),
        }
        return {"image": data_url(view.content, media_type), "metadata": metadata}

    async def _wait_for_outputs(self, call: NodeCall, base: str, prompt_id: str) -> Mapping[str, Any]:
        """The history entry of `prompt_id` once it holds an image; raises if the run fails or times out."""
        deadline = time.monotonic() + self._timeout
        interval = self._poll_interval
        while True:
            history = json_body(await send(call, COMFYUI, "GET", f"{base}/history/{prompt_id}"), COMFYUI)
            entry = history.get(prompt_id) if isinstance(history, Mapping) else None
            if isinstance(entry, Mapping):
                reported = entry.get("status")
                status: Mapping[str, Any] = reported if isinstance(reported, Mapping) else {}
                if status.get("status_str") == "error":
                    raise NodeError(f"{COMFYUI} failed to generate the image: {_execution_error(status)}")
                if _images(entry):
                    return entry
                if status.get("completed"):
                    raise NodeError(f"{COMFYUI} finished the prompt but saved no image")
            if time.monotonic() >= deadline:
                await _forget(call, base, prompt_id)
                raise NodeError(f"{COMFYUI} did not finish the image within {self._timeout:g} seconds")
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 2.0)


def _settings(call: NodeCall, prompt: str, model: str) -> dict[str, Any]:
    seed = int(to_number(call.prop("seed")))
    return {
        "prompt": prompt,
        "negativePrompt": call.text_prop("negativePrompt"),
        "model": model,
        "steps": int(to_number(call.prop("steps"))) or 20,
        "guidanceScale": to_number(call.prop("guidanceScale")) or 7.5,
        "denoise": to_number(call.prop("denoise")) or 1.0,
        "sampler": call.text_prop("sampler"),
        "scheduler": call.text_prop("scheduler"),
        "width": int(to_number(call.prop("width"))) or 512,
        "height": int(to_number(call.prop("height"))) or 512,
        "seed": seed if seed >= 0 else secrets.randbelow(2**32),
    }


async def _first_model(call: NodeCall, base: str) -> str:
    """Studio's behaviour when no model is selected: the first checkpoint ComfyUI offers."""
    info = json_body(await send(call, COMFYUI, "GET", f"{base}/object_info/CheckpointLoaderSimple"), COMFYUI)
    try:
        spec = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
        options = spec[0] if isinstance(spec[0], list) else spec[1]["options"]
    except (KeyError, IndexError, TypeError) as exc:
        raise NodeError(f"{COMFYUI} did not list its checkpoints; set selectedModel on the node") from exc
    if not options:
        raise NodeError(f"{COMFYUI} has no checkpoint models installed")
    return str(options[0])


def _images(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    outputs = entry.get("outputs")
    if not isinstance(outputs, Mapping):
        return []
    ordered = [outputs[SAVE_NODE]] if SAVE_NODE in outputs else []
    ordered += [output for node_id, output in outputs.items() if node_id != SAVE_NODE]
    return [
        image
        for output in ordered
        if isinstance(output, Mapping)
        for image in output.get("images") or []
        if isinstance(image, Mapping) and image.get("filename")
    ]


def _first_image(entry: Mapping[str, Any]) -> dict[str, str]:
    image = _images(entry)[0]
    return {
        "filename": str(image["filename"]),
        "subfolder": str(image.get("subfolder") or ""),
        "type": str(image.get("type") or "output"),
    }


def _execution_error(status: Mapping[str, Any]) -> str:
    for message in status.get("messages") or []:
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            details = message[1] if isinstance(message[1], Mapping) else {}
            node = details.get("node_type", "a node")
            return f"{node}: {details.get('exception_message', 'unknown error')}".strip()
    return "the prompt ended with an error"


def _prompt_error(response: httpx2.Response) -> str:
    """ComfyUI's validation answer: the headline plus each node's first error."""
    headline = error_detail(response)
    try:
        node_errors = response.json().get("node_errors") or {}
    except (ValueError, AttributeError):
        return headline
    details = []
    for node_id, problem in node_errors.items() if isinstance(node_errors, Mapping) else ():
        errors = problem.get("errors") if isinstance(problem, Mapping) else None
        if errors and isinstance(errors[0], Mapping):
            details.append(f"node {node_id} ({problem.get('class_type', '?')}): {errors[0].get('details') or ''}")
    return "; ".join([headline, *details])


async def _forget(call: NodeCall, base: str, prompt_id: str) -> None:
    """Take a prompt we stopped waiting for off ComfyUI's queue (best effort)."""
    with contextlib.suppress(NodeError):
        await send(call, COMFYUI, "POST", f"{base}/queue", json={"delete": [prompt_id]})
