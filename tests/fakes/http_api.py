"""`FakeHttpApi`: a small httpbin-like server on 127.0.0.1 for the `api-request` node.

* `/anything/...` (any method): echoes the request as JSON: `method`, `path`, `query` (name ->
  list of values), `headers`, `body` (text), `json` (parsed, or null), `form` (urlencoded or
  multipart fields, or null);
* `/status/{code}`: that status with `{"status": code}`;
* `/redirect`: 302 to `/anything/redirected`;
* `/bytes`: `application/octet-stream` bytes `BYTES`;
* `/text`: `text/plain` "plain text"; `/json-as-text`: `text/plain` holding a JSON object;
* `/xml`: `application/xml`.
Everything of `LoopbackServer` applies (`delay`, `fail_next`, `drop_next`, recorded `requests`).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer

BYTES = b"\x00\x01\x02clara\xff"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class FakeHttpApi(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(
            [
                Route("/anything", _anything, methods=_METHODS),
                Route("/anything/{rest:path}", _anything, methods=_METHODS),
                Route("/status/{code:int}", _status, methods=_METHODS),
                Route("/redirect", _redirect),
                Route("/bytes", _bytes),
                Route("/text", _text),
                Route("/json-as-text", _json_as_text),
                Route("/xml", _xml),
            ]
        )


async def _anything(request: Request) -> Response:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    form: dict[str, Any] | None = None
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = {key: str(value) for key, value in (await request.form()).items()}
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": query,
            "headers": dict(request.headers),
            "body": raw.decode(errors="replace"),
            "json": parsed,
            "form": form,
        }
    )


async def _status(request: Request) -> Response:
    code = request.path_params["code"]
    return JSONResponse({"status": code}, status_code=code)


async def _redirect(request: Request) -> Response:
    del request
    return RedirectResponse("/anything/redirected", status_code=302)


async def _bytes(request: Request) -> Response:
    del request
    return Response(BYTES, media_type="application/octet-stream")


async def _text(request: Request) -> Response:
    del request
    return PlainTextResponse("plain text")


async def _json_as_text(request: Request) -> Response:
    del request
    return PlainTextResponse('{"from": "text"}')


async def _xml(request: Request) -> Response:
    del request
    return Response("<note><to>Clara</to></note>", media_type="application/xml")
