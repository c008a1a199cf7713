from __future__ import annotations

from collections.abc import Iterator

import pytest

from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.notebook import NotebookChatNode, NotebookWriterNode, document_title
from tests.fakes.clara_backend import FakeClaraBackend
from tests.flow.nodes.calling import backend_services, call_node


@pytest.fixture
def backend() -> Iterator[FakeClaraBackend]:
    with FakeClaraBackend(notebooks=("nb-1", "team notes")) as fake:
        yield fake


async def test_writer_uploads_the_text_as_a_document(backend: FakeClaraBackend) -> None:
    text = "Meeting notes: Q3 review\nRevenue grew."
    result = await call_node(
        NotebookWriterNode(),
        {"selectedNotebook": "nb-1"},
        inputs={"text": text},
        services=backend_services(backend.url),
    )
    (stored,) = backend.notebooks["nb-1"]
    assert result == {"documentId": stored["id"], "success": True}
    upload = backend.last("/notebooks/nb-1/documents").files["files"][0]
    assert (upload.filename, upload.content_type, upload.data) == (
        "meeting notes_ q3 review.txt",
        "text/plain",
        text.encode(),
    )


async def test_writer_uses_the_title_and_markdown_and_escapes_the_notebook_id(backend: FakeClaraBackend) -> None:
    data = {"selectedNotebook": "team notes", "documentTitle": "Weekly Report", "contentType": "text/markdown"}
    await call_node(NotebookWriterNode(), data, inputs={"text": "# Done"}, services=backend_services(backend.url))
    upload = backend.last("/notebooks/team notes/documents").files["files"][0]
    assert (upload.filename, upload.content_type) == ("weekly report.md", "text/markdown")


def test_document_title_follows_studio() -> None:
    assert document_title("x" * 60 + "\nmore", "") == "x" * 47 + "..."
    assert document_title("   \nsecond", "") == "Untitled Document"
    assert document_title("body", "  Given  ") == "Given"


async def test_writer_fails_clearly(backend: FakeClaraBackend) -> None:
    services = backend_services(backend.url)
    with pytest.raises(NodeError, match="answered 404 Not Found: Notebook not found"):
        await call_node(NotebookWriterNode(), {"selectedNotebook": "missing"}, inputs={"text": "x"}, services=services)
    with pytest.raises(NodeError, match="needs text"):
        await call_node(NotebookWriterNode(), {"selectedNotebook": "nb-1"}, inputs={"text": ""}, services=services)


def test_notebook_nodes_without_a_notebook_are_reported_at_deploy() -> None:
    node = Node(id="n", type="notebook-writer", name="", data={})
    assert NotebookWriterNode().configuration_problems(node) == [
        "selectedNotebook is not set; choose the notebook this node works with"
    ]
    chat = Node(id="n", type="notebook-chat", name="", data={"selectedNotebook": "nb-1", "responseMode": "deep"})
    assert NotebookChatNode().configuration_problems(chat) == [
        "responseMode 'deep' is not one of: hybrid, local, global, naive, mix"
    ]


async def test_chat_asks_the_notebook_and_returns_answer_and_citations(backend: FakeClaraBackend) -> None:
    services = backend_services(backend.url)
    await call_node(NotebookWriterNode(), {"selectedNotebook": "nb-1"}, inputs={"text": "org chart"}, services=services)
    result = await call_node(
        NotebookChatNode(), {"selectedNotebook": "nb-1"}, inputs={"query": "  Who leads QA? "}, services=services
    )
    assert backend.last("/notebooks/nb-1/chat").json() == {
        "question": "Who leads QA?",
        "mode": "hybrid",
        "response_type": "Multiple Paragraphs",
        "top_k": 60,
        "llm_provider": None,
        "use_chat_history": True,
    }
    assert result["answer"] == "According to the notebook: Who leads QA?"
    assert [citation["filename"] for citation in result["citations"]] == ["org chart.txt"]
    assert (result["success"], result["citationCount"], result["responseLength"]) == (True, 1, len(result["answer"]))


async def test_chat_options_and_no_citations(backend: FakeClaraBackend) -> None:
    data = {"selectedNotebook": "nb-1", "responseMode": "local", "useChatHistory": False}
    result = await call_node(NotebookChatNode(), data, inputs={"query": "Hi"}, services=backend_services(backend.url))
    sent = backend.last("/notebooks/nb-1/chat").json()
    assert (sent["mode"], sent["use_chat_history"]) == ("local", False)
    assert (result["citations"], result["citationCount"]) == ([], 0)


async def test_chat_fails_clearly(backend: FakeClaraBackend) -> None:
    services = backend_services(backend.url)
    with pytest.raises(NodeError, match="needs a question"):
        await call_node(NotebookChatNode(), {"selectedNotebook": "nb-1"}, inputs={}, services=services)
    with pytest.raises(NodeError, match="Notebook not found"):
        await call_node(NotebookChatNode(), {"selectedNotebook": "nope"}, inputs={"query": "q"}, services=services)
