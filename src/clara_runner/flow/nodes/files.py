"""The API inputs that carry files: `image-input`, `pdf-input` and `file-upload`.

Each becomes one request field holding the file as base64 or as a data URL; a workflow that saved a
file in Studio (`data.imageFile`, `data.pdfFile`, `data.outputs.content`) uses it when the caller sends
none. A file the node cannot use is the caller's fault: the node fails with a message that says what
is wrong (not base64, not an image, not a PDF, a type the node does not accept, too large).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import MISSING, ApiRole, NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.documents import inspect_image, pdf_text
from clara_runner.flow.nodes.payloads import MB, accepts, data_url, decode, extension_for
from clara_runner.flow.nodes.values import to_number

IMAGE_MAX_BYTES = 20 * MB
PDF_MAX_BYTES = 50 * MB
OUTPUT_FORMATS = ("base64", "dataurl", "text", "binary", "file")

_SAVED = "Optional: when omitted, the file saved in the workflow is used."
_PNG_EXAMPLE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
_PDF_EXAMPLE = (
    "data:application/pdf;base64,"
    "JVBERi0xLjQKMSAwIG9iago8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4KZW5kb2JqCjIgMCBvYmoKPDwgL1R5cGUgL1BhZ2VzIC9L"
    "aWRzIFszIDAgUl0gL0NvdW50IDEgPj4KZW5kb2JqCjMgMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAgMCA0"
    "MDAgMzAwXSAvQ29udGVudHMgNCAwIFIgL1Jlc291cmNlcyA8PCAvRm9udCA8PCAvRjEgNSAwIFIgPj4gPj4gPj4KZW5kb2JqCjQgMCBvYmoKPDwg"
    "L0xlbmd0aCA0NyA+PgpzdHJlYW0KQlQgL0YxIDEyIFRmIDE0IFRMIDIwIDI2MCBUZCAoRXhhbXBsZSkgVGogVCogRVQKZW5kc3RyZWFtCmVuZG9i"
    "ago1IDAgb2JqCjw8IC9UeXBlIC9Gb250IC9TdWJ0eXBlIC9UeXBlMSAvQmFzZUZvbnQgL0hlbHZldGljYSA+PgplbmRvYmoKeHJlZgowIDYKMDAw"
    "MDAwMDAwMCA2NTUzNSBmIAowMDAwMDAwMDA5IDAwMDAwIG4gCjAwMDAwMDAwNTggMDAwMDAgbiAKMDAwMDAwMDExNSAwMDAwMCBuIAowMDAwMDAw"
    "MjQxIDAwMDAwIG4gCjAwMDAwMDAzMzggMDAwMDAgbiAKdHJhaWxlcgo8PCAvU2l6ZSA2IC9Sb290IDEgMCBSID4+CnN0YXJ0eHJlZgo0MDgKJSVF"
    "T0YK"
)
_TEXT_EXAMPLE = "data:text/plain;name=notes.txt;base64,SGVsbG8sIHdvcmxkIQo="
_EXAMPLES = (
    (_TEXT_EXAMPLE, "text/plain", "notes.txt"),
    (_PNG_EXAMPLE, "image/png", ""),
    (_PDF_EXAMPLE, "application/pdf", ""),
)


def _api_value(call: NodeCall, saved: Any) -> Any:
    """The caller's value, else the file saved in the workflow (None when there is neither)."""
    return call.external if call.external is not MISSING and call.external is not None else saved


def _has_file(value: Any) -> bool:
    return value is not None and value != ""


def _positive(value: Any, default: float) -> float:
    """Studio's `Number(x) || default`: zero, blank or nonsense means the default."""
    number = to_number(value)
    return number if number > 0 else default


def _number_problem(node: Node, name: str) -> list[str]:
    value = node.data.get(name)
    if value is None or value == "":
        return []
    try:
        valid = not isinstance(value, bool) and isinstance(value, int | float | str) and float(value) >= 0
    except ValueError:
        valid = False
    return [] if valid else [f"{name} must be a positive number, not {value!r}"]


class _SavedFileInput(NodeType):
    """An API field holding one file of `media_type`, optional when the workflow saved one under `saved_key`."""

    saved_key: ClassVar[str]
    media_type: ClassVar[str]
    field_description: ClassVar[str]
    example: ClassVar[str]
    role = ApiRole.INPUT

    def api_schema(self, node: Node) -> dict[str, Any]:
        description = self.field_description + (" " + _SAVED if self.api_optional(node) else "")
        return {
            "type": "string",
            "contentEncoding": "base64",
            "contentMediaType": self.media_type,
            "description": description,
            "examples": [self.example],
        }

    def api_optional(self, node: Node) -> bool:
        return _has_file(node.data.get(self.saved_key))


class ImageInputNode(_SavedFileInput):
    """An image from the caller (or saved in the workflow), checked and returned as a data URL."""

    type_name = "image-input"
    title = "Image Input"
    outputs = (PortSpec("base64", "Base64 Image", "string"), PortSpec("metadata", "Metadata", "object"))
    defaults = {"imageFile": "", "maxWidth": 1024, "maxHeight": 1024, "quality": 0.8}
    saved_key = "imageFile"
    media_type = "image/*"
    field_description = "An image (PNG, JPEG, GIF, WebP...) as base64 or as a data URL."
    example = _PNG_EXAMPLE

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        value = _api_value(call, call.prop("imageFile"))
        if not _has_file(value):
            return {"base64": "", "metadata": {}}
        payload = decode(value, "the image", IMAGE_MAX_BYTES)
        info = await asyncio.to_thread(inspect_image, payload.data)
        metadata = {"width": info.width, "height": info.height, "type": info.media_type, "size": payload.size}
        return {"base64": data_url(payload.data, info.media_type), "metadata": metadata}


class PdfInputNode(_SavedFileInput):
    """A PDF from the caller (or saved in the workflow), turned into text page by page."""

    type_name = "pdf-input"
    title = "PDF Input"
    outputs = (PortSpec("text", "Extracted Text", "string"), PortSpec("metadata", "Metadata", "object"))
    defaults = {"pdfFile": "", "maxPages": 50, "preserveFormatting": False}
    saved_key = "pdfFile"
    media_type = "application/pdf"
    field_description = "A PDF document as base64 or as a data URL (data:application/pdf;base64,...)."
    example = _PDF_EXAMPLE

    def configuration_problems(self, node: Node) -> list[str]:
        return _number_problem(node, "maxPages")

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        value = _api_value(call, call.prop("pdfFile"))
        if not _has_file(value):
            return {"text": "", "metadata": {"pageCount": 0, "size": 0, "error": "No PDF file provided"}}
        max_pages = int(_positive(call.prop("maxPages"), 50))
        preserve = bool(call.prop("preserveFormatting"))
        payload = decode(value, "the PDF", PDF_MAX_BYTES)
        if b"%PDF-" not in payload.data[:1024]:
            raise NodeError("the file is not a PDF (it has no %PDF- header)")
        extracted = await asyncio.to_thread(
            pdf_text, payload.data, max_pages, preserve, call.context.value_limits.max_value
        )
        metadata = {
            "pageCount": extracted.pages_read,
            "totalPagesInDocument": extracted.pages_total,
            "size": payload.size,
            "extractedCharacters": len(extracted.text),
            "extractedWords": len(extracted.text.split()),
            "preserveFormatting": preserve,
            "maxPages": max_pages,
        }
        return {"text": extracted.text, "metadata": metadata}


class FileUploadNode(NodeType):
    """Any file from the caller, checked against `acceptedTypes` and `maxSize`, in the chosen `outputFormat`.

    Output formats (all JSON values):
    `base64` the bytes as base64; `dataurl` a `data:<type>;base64,...` URL; `text` the bytes read as
    UTF-8; `binary` an array of byte values (0-255); `file` an object `{name, type, size, content}`
    whose `content` is base64.
    """

    type_name = "file-upload"
    title = "File Upload"
    outputs = (PortSpec("content", "File Content", "any"), PortSpec("metadata", "File Metadata", "object"))
    defaults = {"outputFormat": "base64", "acceptedTypes": "*/*", "maxSize": 10}
    role = ApiRole.INPUT

    def api_schema(self, node: Node) -> dict[str, Any]:
        accepted = _accepted(node.data.get("acceptedTypes"))
        max_size = _positive(node.data.get("maxSize"), 10)
        description = (
            "A file as base64 or as a data URL (data:<type>[;name=<file name>];base64,...). "
            f"Accepted types: {accepted}. At most {max_size:g} MB."
        )
        if self.api_optional(node):
            description += " " + _SAVED
        schema: dict[str, Any] = {"type": "string", "contentEncoding": "base64", "description": description}
        if "," not in accepted and "/" in accepted and accepted != "*/*":
            schema["contentMediaType"] = accepted
        examples = [value for value, media_type, name in _EXAMPLES if accepts(accepted, media_type, name)]
        if examples:
            schema["examples"] = examples[:1]
        return schema

    def api_optional(self, node: Node) -> bool:
        saved = node.data.get("outputs")
        return isinstance(saved, Mapping) and _has_file(saved.get("content"))

    def configuration_problems(self, node: Node) -> list[str]:
        problems = _number_problem(node, "maxSize")
        output_format = node.data.get("outputFormat")
        if output_format not in (None, "", *OUTPUT_FORMATS):
            problems.append(f"outputFormat {output_format!r} is not one of: {', '.join(OUTPUT_FORMATS)}")
        return problems

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        if call.external is MISSING or call.external is None:
            saved = call.node.data.get("outputs")
            saved = saved if isinstance(saved, Mapping) else {}
            return {"content": saved.get("content"), "metadata": saved.get("metadata")}
        output_format = call.text_prop("outputFormat")
        accepted = _accepted(call.prop("acceptedTypes"))
        max_bytes = int(_positive(call.prop("maxSize"), 10) * MB)
        payload = decode(call.external, "the file", max_bytes)
        media_type = payload.media_type()
        if not accepts(accepted, media_type, payload.name):
            raise NodeError(f"files of type {media_type} are not accepted here; accepted types: {accepted}")
        name = payload.name or f"upload.{extension_for(media_type, 'bin')}"
        metadata = {"name": name, "size": payload.size, "type": media_type, "format": output_format}
        return {"content": _formatted(payload.data, media_type, name, output_format), "metadata": metadata}


def _accepted(value: Any) -> str:
    return value.strip() if isinstance(value, str) and value.strip() else "*/*"


def _formatted(data: bytes, media_type: str, name: str, output_format: str) -> Any:
    if output_format == "dataurl":
        return data_url(data, media_type)
    if output_format == "text":
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise NodeError(
                f"the file is not UTF-8 text (it looks like {media_type}); "
                "this node's outputFormat is 'text', so send a text file"
            ) from exc
    if output_format == "binary":
        return list(data)
    encoded = base64.b64encode(data).decode("ascii")
    if output_format == "file":
        return {"name": name, "type": media_type, "size": len(data), "content": encoded}
    return encoded
