from __future__ import annotations

import pytest

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.comfyui import ComfyUIImageGenNode
from tests import samples
from tests.fakes.comfyui_server import FakeComfyUI
from tests.flow.nodes.calling import backend_services, call_node

FAST = {"timeout": 5.0, "poll_interval": 0.01}
SETTINGS = {
    "selectedModel": "sd15.safetensors",
    "steps": 12,
    "guidanceScale": 6.5,
    "denoise": 0.9,
    "sampler": "dpmpp_2m",
    "scheduler": "karras",
    "width": 640,
    "height": 384,
    "negativePrompt": "blurry",
    "seed": 1234,
}


async def test_generates_an_image_through_prompt_history_and_view() -> None:
    with FakeComfyUI(polls=3) as comfy:
        result = await call_node(
            ComfyUIImageGenNode(**FAST), SETTINGS, inputs={"prompt": "a red fox"}, services=backend_services(comfy.url)
        )
        (graph,) = comfy.posted_graphs()
        posted = next(r for r in comfy.requests if r.path == "/prompt").json()
    assert result["image"] == samples.data_url(comfy.image, "image/png")
    assert posted["client_id"]
    by_class = {node["class_type"]: node["inputs"] for node in graph.values() if node["class_type"] != "CLIPTextEncode"}
    assert by_class["CheckpointLoaderSimple"] == {"ckpt_name": "sd15.safetensors"}
    assert by_class["EmptyLatentImage"] == {"width": 640, "height": 384, "batch_size": 1}
    sampler = by_class["KSampler"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["denoise"]) == (1234, 12, 6.5, 0.9)
    assert (sampler["sampler_name"], sampler["scheduler"]) == ("dpmpp_2m", "karras")
    texts = sorted(node["inputs"]["text"] for node in graph.values() if node["class_type"] == "CLIPTextEncode")
    assert texts == ["a red fox", "blurry"]
    assert result["metadata"]["seed"] == 1234
    assert result["metadata"]["model"] == "sd15.safetensors"
    history_polls = [r for r in comfy.requests if r.path.startswith("/history/")]
    assert len(history_polls) == 4


async def test_without_a_model_it_picks_the_first_checkpoint_and_a_random_seed() -> None:
    with FakeComfyUI(models=("first.ckpt", "second.ckpt")) as comfy:
        result = await call_node(
            ComfyUIImageGenNode(**FAST), {"prompt": "saved prompt"}, services=backend_services(comfy.url)
        )
        (graph,) = comfy.posted_graphs()
    sampler = next(node["inputs"] for node in graph.values() if node["class_type"] == "KSampler")
    assert result["metadata"]["model"] == "first.ckpt"
    assert 0 <= sampler["seed"] < 2**32
    assert result["metadata"]["seed"] == sampler["seed"]
    assert (sampler["steps"], sampler["cfg"], sampler["sampler_name"]) == (20, 7.5, "euler")


async def test_reports_comfyui_validation_errors() -> None:
    expected = r"Prompt outputs failed validation; node 4 \(CheckpointLoaderSimple\): ckpt_name: 'missing"
    with FakeComfyUI() as comfy, pytest.raises(NodeError, match=expected):
        await call_node(
            ComfyUIImageGenNode(**FAST),
            {"selectedModel": "missing.safetensors"},
            inputs={"prompt": "x"},
            services=backend_services(comfy.url),
        )


async def test_reports_an_execution_error() -> None:
    expected = "failed to generate the image: KSampler: CUDA out of memory"
    with FakeComfyUI(outcome="error") as comfy, pytest.raises(NodeError, match=expected):
        await call_node(ComfyUIImageGenNode(**FAST), inputs={"prompt": "x"}, services=backend_services(comfy.url))


async def test_gives_up_after_the_timeout_and_removes_the_prompt_from_the_queue() -> None:
    with FakeComfyUI(outcome="never") as comfy:
        node_type = ComfyUIImageGenNode(timeout=0.2, poll_interval=0.02)
        with pytest.raises(NodeError, match=r"did not finish the image within 0\.2 seconds"):
            await call_node(node_type, inputs={"prompt": "x"}, services=backend_services(comfy.url))
        assert comfy.deleted == list(comfy.prompts)


async def test_needs_a_prompt() -> None:
    with pytest.raises(NodeError, match="needs a prompt"):
        await call_node(ComfyUIImageGenNode(**FAST), inputs={"prompt": " "}, services=backend_services("http://x"))
