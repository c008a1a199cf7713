"""The built-in node library and the default registry."""

from __future__ import annotations

from clara_runner.flow.nodes.agent import AgentExecutorNode
from clara_runner.flow.nodes.api_request import ApiRequestNode
from clara_runner.flow.nodes.audio import SpeechToTextNode, TextToSpeechNode, WhisperTranscriptionNode
from clara_runner.flow.nodes.base import NodeType
from clara_runner.flow.nodes.comfyui import ComfyUIImageGenNode
from clara_runner.flow.nodes.custom import custom_node_type
from clara_runner.flow.nodes.files import FileUploadNode, ImageInputNode, PdfInputNode
from clara_runner.flow.nodes.io import InputNode, OutputNode
from clara_runner.flow.nodes.jsonops import JsonParseNode, JsonStringifyNode
from clara_runner.flow.nodes.llm import LlmNode
from clara_runner.flow.nodes.logic import IfElseNode
from clara_runner.flow.nodes.notebook import NotebookChatNode, NotebookWriterNode
from clara_runner.flow.nodes.registry import CustomNodeFactory, NodeRegistry, build_registry
from clara_runner.flow.nodes.structured import StructuredLlmNode
from clara_runner.flow.nodes.text import CombineTextNode, StaticTextNode


def builtin_node_types() -> list[tuple[NodeType, tuple[str, ...]]]:
    """Every built-in node type with the extra type names it also answers to."""
    return [
        (InputNode(), ()),
        (OutputNode(), ()),
        (StaticTextNode(), ()),
        (CombineTextNode(), ()),
        (JsonParseNode(), ()),
        (JsonStringifyNode(), ()),
        (ImageInputNode(), ()),
        (PdfInputNode(), ()),
        (FileUploadNode(), ()),
        (WhisperTranscriptionNode(), ()),
        (SpeechToTextNode(), ()),
        (TextToSpeechNode(), ()),
        (NotebookWriterNode(), ()),
        (NotebookChatNode(), ()),
        (ComfyUIImageGenNode(), ()),
        (LlmNode(), ("llm-chat",)),
        (StructuredLlmNode(), ()),
        (AgentExecutorNode(), ()),
        (ApiRequestNode(), ()),
        (IfElseNode(), ()),
    ]


def default_registry(custom_factory: CustomNodeFactory | None = custom_node_type) -> NodeRegistry:
    """The built-in types, and custom nodes run in the JavaScript sandbox (pass `None` to refuse them)."""
    return build_registry(builtin_node_types(), custom_factory)
