"""Contracts built straight from workflow documents, as deploy builds them."""

from __future__ import annotations

from typing import Any

from clara_runner.contract.schema import Contract, ContractOptions, build_contract
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.plan import compile_flow
from tests.file_nodes import registry_with_file_nodes


def contract_of(workflow: Any, options: ContractOptions | None = None) -> Contract:
    return build_contract(compile_flow(parse_flow(workflow), registry_with_file_nodes()), options)


def edge(source: str, target: str, source_port: str = "output", target_port: str = "input") -> dict[str, str]:
    return {"source": source, "target": target, "sourceHandle": source_port, "targetHandle": target_port}


TYPED_FLOW: dict[str, Any] = {
    "nodes": [
        {"id": "name", "type": "input", "data": {"label": "User Name", "description": "Who to greet"}},
        {"id": "greeting", "type": "input", "data": {"label": "Greeting", "value": "Hello"}},
        {"id": "count", "type": "input", "data": {"label": "Count", "inputType": "number"}},
        {"id": "config", "type": "input", "data": {"label": "Config", "inputType": "json", "value": '{"a": 1}'}},
        {"id": "photo", "type": "test-file-input", "data": {"label": "Photo", "mediaType": "image/png"}},
        {"id": "report", "type": "test-file-input", "data": {"label": "Report", "mediaType": "application/pdf"}},
        {"id": "out-json", "type": "output", "data": {"outputLabel": "Parsed", "format": "json"}},
        {"id": "out-text", "type": "output", "data": {"outputLabel": "Text", "format": "text"}},
        {"id": "out-size", "type": "output", "data": {"outputLabel": "Photo Size"}},
    ],
    "connections": [
        edge("config", "out-json"),
        edge("name", "out-text"),
        edge("photo", "out-size", "size"),
    ],
}


EVERY_KIND_FLOW: dict[str, Any] = {
    "nodes": [
        {"id": "name", "type": "input", "data": {"label": "Name"}},
        {"id": "count", "type": "input", "data": {"label": "Count", "inputType": "number"}},
        {"id": "config", "type": "input", "data": {"label": "Config", "inputType": "json"}},
        {"id": "photo", "type": "image-input", "data": {"label": "Photo"}},
        {"id": "attachment", "type": "file-upload", "data": {"label": "Attachment"}},
        {"id": "echo", "type": "output", "data": {"outputLabel": "Echo", "format": "text"}},
        {"id": "number", "type": "output", "data": {"outputLabel": "Number"}},
        {"id": "settings", "type": "output", "data": {"outputLabel": "Settings", "format": "json"}},
        {"id": "photo-info", "type": "output", "data": {"outputLabel": "Photo Info", "format": "json"}},
        {"id": "file-info", "type": "output", "data": {"outputLabel": "File Info", "format": "json"}},
    ],
    "connections": [
        edge("name", "echo"),
        edge("count", "number"),
        edge("config", "settings"),
        edge("photo", "photo-info", "metadata"),
        edge("attachment", "file-info", "metadata"),
    ],
}
"""Built-in node types only: text, number, JSON, image and file inputs; text, untyped and JSON outputs."""
