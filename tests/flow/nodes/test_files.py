from __future__ import annotations

import base64
from typing import Any

import pytest

from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes import files
from clara_runner.flow.nodes.files import FileUploadNode, ImageInputNode, PdfInputNode
from tests import samples
from tests.flow.nodes.calling import call_node
from tests.support import shared_workflow


def _node(type_name: str, data: dict[str, Any]) -> Node:
    return Node(id="n", type=type_name, name=type_name, data=data)


def _workflow_node(file_name: str, node_type: str) -> dict[str, Any]:
    nodes = shared_workflow(file_name)["flow"]["nodes"]
    data: dict[str, Any] = next(node for node in nodes if node["type"] == node_type)["data"]
    return data


# image-input


async def test_image_input_returns_a_data_url_with_the_real_type_and_metadata() -> None:
    image = samples.png(3, 2)
    result = await call_node(ImageInputNode(), external=samples.b64(image))
    assert result["base64"] == samples.data_url(image, "image/png")
    assert result["metadata"] == {"width": 3, "height": 2, "type": "image/png", "size": len(image)}


async def test_image_input_trusts_the_bytes_over_the_declared_type() -> None:
    image = samples.jpeg(2, 3)
    result = await call_node(ImageInputNode(), external=samples.data_url(image, "image/png"))
    assert result["base64"].startswith("data:image/jpeg;base64,")
    assert result["metadata"]["type"] == "image/jpeg"


async def test_image_input_uses_the_saved_image_when_the_caller_sends_none() -> None:
    image = samples.png()
    result = await call_node(ImageInputNode(), {"imageFile": samples.data_url(image, "image/png")})
    assert result["base64"] == samples.data_url(image, "image/png")
    assert await call_node(ImageInputNode()) == {"base64": "", "metadata": {}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("data:image/png;base64,%%%notbase64", "the image is not valid base64"),
        (samples.b64(samples.pdf(["not an image"])), "not an image"),
        (samples.b64(samples.png(30, 30)[:-40]), "damaged or truncated"),
        (samples.b64(samples.png_claiming_size(50_000, 50_000)), "too large to process"),
    ],
)
async def test_image_input_refuses_files_that_are_not_images(value: str, message: str) -> None:
    with pytest.raises(NodeError, match=message):
        await call_node(ImageInputNode(), external=value)


async def test_image_input_refuses_an_image_over_the_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "IMAGE_MAX_BYTES", 50)
    with pytest.raises(NodeError, match="the image is too large"):
        await call_node(ImageInputNode(), external=samples.b64(samples.png(20, 20)))


def test_image_input_schema_is_base64_image_and_optional_only_with_a_saved_image() -> None:
    node_type = ImageInputNode()
    schema = node_type.api_schema(_node("image-input", {}))
    assert (schema["type"], schema["contentEncoding"], schema["contentMediaType"]) == ("string", "base64", "image/*")
    assert schema["examples"][0].startswith("data:image/png;base64,")
    assert node_type.api_optional(_node("image-input", {})) is False
    assert node_type.api_optional(_node("image-input", {"imageFile": "iVBORw0KGgo="})) is True


# pdf-input


async def test_pdf_input_extracts_text_per_page_with_metadata() -> None:
    document = samples.pdf(["Invoice 42", "Total due"], ["Thank you"])
    result = await call_node(PdfInputNode(), external=samples.data_url(document, "application/pdf"))
    assert result["text"] == "Page 1:\nInvoice 42 Total due\n\nPage 2:\nThank you"
    assert result["metadata"] == {
        "pageCount": 2,
        "totalPagesInDocument": 2,
        "size": len(document),
        "extractedCharacters": len(result["text"]),
        "extractedWords": 10,
        "preserveFormatting": False,
        "maxPages": 50,
    }


async def test_pdf_input_honours_max_pages_and_preserve_formatting() -> None:
    document = samples.pdf(["alpha one", "beta two"], ["gamma"], ["delta"])
    options = {"maxPages": 2, "preserveFormatting": True}
    result = await call_node(PdfInputNode(), options, external=samples.b64(document))
    assert result["text"] == "Page 1:\nalpha one\nbeta two\n\nPage 2:\ngamma"
    assert (result["metadata"]["pageCount"], result["metadata"]["totalPagesInDocument"]) == (2, 3)


async def test_pdf_input_uses_the_saved_pdf_then_reports_none() -> None:
    saved = {"pdfFile": samples.b64(samples.pdf(["saved"]))}
    assert (await call_node(PdfInputNode(), saved))["text"] == "Page 1:\nsaved"
    result = await call_node(PdfInputNode())
    assert result == {"text": "", "metadata": {"pageCount": 0, "size": 0, "error": "No PDF file provided"}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (samples.b64(samples.png()), "not a PDF"),
        (samples.b64(b"%PDF-1.7 but truncated"), "not a readable PDF"),
        ("****", "the PDF is not valid base64"),
    ],
)
async def test_pdf_input_refuses_files_that_are_not_pdfs(value: str, message: str) -> None:
    with pytest.raises(NodeError, match=message):
        await call_node(PdfInputNode(), external=value)


def test_pdf_input_reports_a_nonsense_max_pages_at_deploy() -> None:
    assert PdfInputNode().configuration_problems(_node("pdf-input", {"maxPages": -3}))
    assert PdfInputNode().configuration_problems(_node("pdf-input", {"maxPages": "ten"}))
    assert PdfInputNode().configuration_problems(_node("pdf-input", {"maxPages": 10})) == []


# file-upload

TEXT = "name,score\nAda,10\n"
TEXT_BASE64 = base64.b64encode(TEXT.encode()).decode()


@pytest.mark.parametrize(
    ("output_format", "expected"),
    [
        ("base64", base64.b64encode(TEXT.encode()).decode()),
        ("dataurl", "data:text/plain;base64," + base64.b64encode(TEXT.encode()).decode()),
        ("text", TEXT),
        ("binary", list(TEXT.encode())),
        (
            "file",
            {"name": "scores.csv", "type": "text/plain", "size": 18, "content": TEXT_BASE64},
        ),
    ],
)
async def test_file_upload_gives_every_output_format(output_format: str, expected: Any) -> None:
    value = "data:text/csv;name=scores.csv;base64," + base64.b64encode(TEXT.encode()).decode()
    result = await call_node(FileUploadNode(), {"outputFormat": output_format}, external=value)
    assert result["content"] == expected
    assert result["metadata"] == {"name": "scores.csv", "size": 18, "type": "text/plain", "format": output_format}


async def test_file_upload_names_an_unnamed_file_after_its_type() -> None:
    result = await call_node(FileUploadNode(), external=samples.b64(samples.pdf(["x"])))
    assert result["metadata"]["name"] == "upload.pdf"
    assert result["metadata"]["type"] == "application/pdf"


async def test_file_upload_accepts_only_the_accepted_types() -> None:
    data = {"acceptedTypes": "image/*,application/pdf"}
    accepted = await call_node(FileUploadNode(), data, external=samples.b64(samples.png()))
    assert accepted["metadata"]["type"] == "image/png"
    with pytest.raises(NodeError, match=r"files of type text/plain are not accepted here; accepted types: image/\*"):
        await call_node(FileUploadNode(), data, external=samples.b64(b"plain words"))


async def test_file_upload_refuses_a_file_over_max_size_in_megabytes() -> None:
    with pytest.raises(NodeError, match=r"the file is too large: 2\.0 KB, more than the limit of 1\.0 KB"):
        await call_node(FileUploadNode(), {"maxSize": 1 / 1024}, external=samples.b64(b"x" * 2048))


async def test_file_upload_as_text_refuses_a_binary_file() -> None:
    with pytest.raises(NodeError, match=r"not UTF-8 text \(it looks like image/png\)"):
        await call_node(FileUploadNode(), {"outputFormat": "text"}, external=samples.b64(samples.png()))


async def test_file_upload_with_the_notebook_workflow_configuration() -> None:
    data = _workflow_node("notebook-data-analysis.json", "file-upload")
    saved = await call_node(FileUploadNode(), data)
    assert saved["content"].startswith("# Company Organizational Structure")
    assert saved["metadata"]["name"] == "org-structure-doc.txt"
    sent = await call_node(FileUploadNode(), data, external="data:text/csv;base64," + samples.b64(TEXT.encode()))
    assert sent["content"] == TEXT
    assert FileUploadNode().api_optional(_node("file-upload", data)) is True


async def test_file_upload_with_nothing_saved_and_nothing_sent_gives_nulls() -> None:
    data = _workflow_node("audio-transcription.json", "file-upload")
    assert await call_node(FileUploadNode(), data) == {"content": None, "metadata": None}
    assert FileUploadNode().api_optional(_node("file-upload", data)) is False


def test_file_upload_schema_describes_the_accepted_types_with_a_valid_example() -> None:
    schema = FileUploadNode().api_schema(_node("file-upload", {"acceptedTypes": "application/pdf", "maxSize": 5}))
    assert schema["contentEncoding"] == "base64"
    assert schema["contentMediaType"] == "application/pdf"
    assert "Accepted types: application/pdf. At most 5 MB." in schema["description"]
    assert schema["examples"][0].startswith("data:application/pdf;base64,")
    any_file = FileUploadNode().api_schema(_node("file-upload", {}))
    assert "contentMediaType" not in any_file
    assert any_file["examples"][0].startswith("data:text/plain;")


def test_file_upload_reports_bad_options_at_deploy() -> None:
    problems = FileUploadNode().configuration_problems(_node("file-upload", {"outputFormat": "xml", "maxSize": "big"}))
    assert problems == [
        "maxSize must be a positive number, not 'big'",
        "outputFormat 'xml' is not one of: base64, dataurl, text, binary, file",
    ]
