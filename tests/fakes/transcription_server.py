"""A loopback OpenAI-compatible transcription endpoint: `POST /v1/audio/transcriptions` (multipart),
with OpenAI's error shape for a wrong key or a missing field."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer


class FakeTranscriptionServer(LoopbackServer):
    def __init__(self, text: str = "The quarterly invoice is attached.", api_key: str = "") -> None:
        self.text = text
        self.api_key = api_key
        """When set, requests must carry `Authorization: Bearer <api_key>`."""
        super().__init__([Route("/v1/audio/transcriptions", self._transcribe, methods=["POST"])])

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def _transcribe(self, request: Request) -> Response:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        async with request.form() as form:
            if not isinstance(form.get("file"), UploadFile):
                return _error(400, "you must provide a file", "missing_file")
            if not form.get("model"):
                return _error(400, "you must provide a model parameter", "missing_model")
        usage = {"type": "tokens", "input_tokens": 14, "output_tokens": 7, "total_tokens": 21}
        return JSONResponse({"text": self.text, "usage": usage})


def _error(status: int, message: str, code: str) -> Response:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return JSONResponse({"error": error}, status_code=status)
