"""Clara notebooks (the Python backend's LightRAG knowledge bases): `notebook-writer` adds a document,
`notebook-chat` asks a question.

Both call the operator's backend (`PYTHON_BACKEND_URL`) and need `selectedNotebook`, the id of an
existing notebook; a node without one is reported at deploy. Studio fell back to a made-up document
id or answer when the backend was unreachable; here the node fails and says why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.remote import BACKEND, SLOW_CALL, backend_url, json_body, send
from clara_runner.flow.nodes.values import as_text

RESPONSE_MODES = ("hybrid", "local", "global", "naive", "mix")
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^a-zA-Z0-9\s]")


def _notebook_problems(node: Node) -> list[str]:
    notebook = node.data.get("selectedNotebook")
    if isinstance(notebook, str) and notebook.strip():
        return []
    return ["selectedNotebook is not set; choose the notebook this node works with"]


def _notebook_url(call: NodeCall, suffix: str) -> str:
    notebook = call.text_prop("selectedNotebook").strip()
    return backend_url(call, f"/notebooks/{quote(notebook, safe='')}/{suffix}")


def document_title(text: str, title: str) -> str:
    """The node's title, else the text's first line (cut to 50 characters), else "Untitled Document"."""
    if title.strip():
        return title.strip()
    first_line = text.split("\n", 1)[0].strip()
    if len(first_line) > 50:
        return first_line[:47] + "..."
    return first_line or "Untitled Document"


class NotebookWriterNode(NodeType):
    """Uploads the text as one document: `POST /notebooks/{id}/documents` (multipart `files`)."""

    type_name = "notebook-writer"
    title = "Notebook Writer"
    inputs = (PortSpec("text", "Text", "string", aliases=("content", "value", "output")),)
    outputs = (PortSpec("documentId", "Document ID", "string"), PortSpec("success", "Success", "boolean"))
    defaults = {"selectedNotebook": "", "documentTitle": "", "contentType": "text"}

    def configuration_problems(self, node: Node) -> list[str]:
        return _notebook_problems(node)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        text = as_text(call.inputs.get("text"))
        if not text.strip():
            raise NodeError("notebook-writer needs text: nothing arrived on its text input")
        title = document_title(text, call.text_prop("documentTitle"))
        markdown = "markdown" in call.text_prop("contentType").lower()
        file_name = _UNSAFE_FILE_CHARACTERS.sub("_", title).lower() + (".md" if markdown else ".txt")
        media_type = "text/markdown" if markdown else "text/plain"
        response = await send(
            call,
            BACKEND,
            "POST",
            _notebook_url(call, "documents"),
            files={"files": (file_name, text.encode("utf-8"), media_type)},
            timeout=SLOW_CALL,
        )
        documents = json_body(response, BACKEND)
        if not isinstance(documents, list) or not documents or not isinstance(documents[0], Mapping):
            raise NodeError(f"{BACKEND} stored no document (it answered {as_text(documents)[:200]})")
        document_id = documents[0].get("id")
        if not document_id:
            raise NodeError(f"{BACKEND} answered a document without an id")
        return {"documentId": document_id, "success": True}


class NotebookChatNode(NodeType):
    """Asks the notebook: `POST /notebooks/{id}/chat` with `question`, `mode`, `top_k` 60 and
    `use_chat_history`; returns the answer and its citations."""

    type_name = "notebook-chat"
    title = "Notebook Chat"
    inputs = (PortSpec("query", "Query", "string", aliases=("question", "text", "content", "value", "output")),)
    outputs = (
        PortSpec("answer", "Answer", "string"),
        PortSpec("citations", "Citations", "array"),
        PortSpec("success", "Success", "boolean"),
        PortSpec("citationCount", "Citation Count", "number"),
        PortSpec("responseLength", "Response Length", "number"),
    )
    defaults = {"selectedNotebook": "", "responseMode": "hybrid", "useChatHistory": True}

    def configuration_problems(self, node: Node) -> list[str]:
        problems = _notebook_problems(node)
        mode = node.data.get("responseMode")
        if mode not in (None, "", *RESPONSE_MODES):
            problems.append(f"responseMode {mode!r} is not one of: {', '.join(RESPONSE_MODES)}")
        return problems

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        query = as_text(call.inputs.get("query")).strip()
        if not query:
            raise NodeError("notebook-chat needs a question: nothing arrived on its query input")
        request = {
            "question": query,
            "mode": call.text_prop("responseMode"),
            "response_type": "Multiple Paragraphs",
            "top_k": 60,
            "llm_provider": None,
            "use_chat_history": call.prop("useChatHistory") is not False,
        }
        response = await send(call, BACKEND, "POST", _notebook_url(call, "chat"), json=request, timeout=SLOW_CALL)
        body = json_body(response, BACKEND)
        answer = body.get("answer") if isinstance(body, Mapping) else None
        if not isinstance(answer, str) or not answer:
            raise NodeError(f"{BACKEND} gave no answer for the question")
        citations = body.get("citations") or []
        return {
            "answer": answer,
            "citations": citations,
            "success": True,
            "citationCount": len(citations),
            "responseLength": len(answer),
        }
