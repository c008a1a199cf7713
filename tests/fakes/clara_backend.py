"""A loopback Clara Python backend (`py_backend/main.py`): `/transcribe`, `/synthesize`,
`/notebooks/{id}/documents` and `/notebooks/{id}/chat`, with its form fields, JSON keys and checks
(supported audio extensions, known notebooks, supported document types)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer
from tests.samples import wav

AUDIO_EXTENSIONS = ("mp3", "wav", "flac", "m4a", "ogg", "opus")
DOCUMENT_EXTENSIONS = (".pdf", ".txt", ".md", ".csv", ".json")
MP3_BYTES = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 64


class FakeClaraBackend(LoopbackServer):
    def __init__(self, transcript: str = "Hello, thanks for calling support.", notebooks: tuple[str, ...] = ("nb-1",)):
        self.transcript = transcript
        self.notebooks: dict[str, list[dict[str, Any]]] = {notebook: [] for notebook in notebooks}
        super().__init__(
            [
                Route("/transcribe", self._transcribe, methods=["POST"]),
                Route("/synthesize", self._synthesize, methods=["POST"]),
                Route("/notebooks/{notebook_id}/documents", self._upload, methods=["POST"]),
                Route("/notebooks/{notebook_id}/chat", self._chat, methods=["POST"]),
            ]
        )

    async def _transcribe(self, request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            assert isinstance(upload, UploadFile)
            filename, data, language = upload.filename or "", await upload.read(), form.get("language")
        extension = filename.lower().rsplit(".", 1)[-1]
        if extension not in AUDIO_EXTENSIONS:
            supported = ", ".join(AUDIO_EXTENSIONS)
            return _detail(400, f"Unsupported audio format: {extension}. Supported formats: {supported}")
        if not data:
            return _detail(400, "Empty audio file")
        segment = {"id": 1, "start": 0.0, "end": 2.4, "text": self.transcript, "words": []}
        result = {
            "text": self.transcript,
            "segments": [segment],
            "language": language or "en",
            "language_probability": 0.97,
        }
        return JSONResponse({"status": "success", "filename": filename, "transcription": result})

    async def _synthesize(self, request: Request) -> Response:
        body = await request.json()
        if not isinstance(body.get("text"), str):
            return JSONResponse({"detail": [{"loc": ["body", "text"], "msg": "Field required"}]}, status_code=422)
        if body.get("engine") in ("kokoro", "kokoro-onnx"):
            return Response(wav(), media_type="audio/wav")
        return Response(MP3_BYTES, media_type="audio/mpeg")

    async def _upload(self, request: Request) -> Response:
        notebook_id = request.path_params["notebook_id"]
        documents = self.notebooks.get(notebook_id)
        if documents is None:
            return _detail(404, "Notebook not found")
        async with request.form() as form:
            uploads = [
                (upload.filename or "", await upload.read())
                for upload in form.getlist("files")
                if isinstance(upload, UploadFile)
            ]
        stored = []
        for filename, data in uploads:
            if not filename.lower().endswith(DOCUMENT_EXTENSIONS):
                return _detail(400, f"Unsupported file type: {filename}")
            if not data.strip():
                continue
            document = {
                "id": str(uuid.uuid4()),
                "filename": filename,
                "notebook_id": notebook_id,
                "uploaded_at": datetime.now(UTC).isoformat(),
                "status": "processing",
                "file_path": f"notebooks/{notebook_id}/{filename}",
            }
            documents.append(document)
            stored.append(document)
        return JSONResponse(stored)

    async def _chat(self, request: Request) -> Response:
        documents = self.notebooks.get(request.path_params["notebook_id"])
        if documents is None:
            return _detail(404, "Notebook not found")
        query = await request.json()
        citations = [
            {
                "filename": document["filename"],
                "file_path": document["file_path"],
                "document_id": document["id"],
                "title": document["filename"].rsplit(".", 1)[0].replace("_", " ").title(),
            }
            for document in documents
        ]
        return JSONResponse(
            {
                "answer": f"According to the notebook: {query.get('question')}",
                "mode": query.get("mode", "hybrid"),
                "context_used": True,
                "citations": citations or None,
                "chat_context_used": query.get("use_chat_history", True),
            }
        )


def _detail(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status)
