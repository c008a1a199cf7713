"""An httpx2 transport that puts requests on the wire with aiohttp.

Nodes keep using `httpx2.AsyncClient` (the OpenAI and Anthropic SDKs take one; redirects, auth,
request building and response decoding stay httpx2's); only the connection pool and the HTTP/1.1
parsing move to aiohttp. httpx2's own transport (httpcore2 + h11, pure Python) costs about half a
millisecond of CPU per request, and its pool walks every pooled connection whenever a request starts
or ends; aiohttp parses in C and finds an idle connection in a dict, which halves the client cost of
a fan-out of 100 `llm` nodes (`bench/llm_fanout.py`).

Not the `httpx-aiohttp` package: its transport (0.2.0) reports every connection failure (refused,
DNS, certificate, server disconnect) as `ConnectTimeout`, so nodes would say "did not answer in
time" for a refused connection; it lets yarl re-quote the URL (`%7e` becomes `~`, which breaks
signed URLs), lets aiohttp keep and resend cookies behind httpx2's back and add a
`Content-Type: application/octet-stream` the caller did not ask for. What is left is small enough
to own.

Mapping of httpx2's `Timeout`: `connect` bounds each connection attempt (aiohttp `sock_connect`),
`pool` + `connect` bounds getting a connection at all (aiohttp `connect`, which counts waiting for
the pool and connecting), `read` bounds every wait for data, from the end of the request body until
the last byte of the response (aiohttp `sock_read`). There is no total: a 10-minute transcription
that keeps sending is fine, and the node and run deadlines bound everything (cancelling a request
closes its connection). aiohttp has no write timeout: a server that stops reading a request body is
only stopped by those deadlines.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
import httpx2
from aiohttp.abc import AbstractResolver
from yarl import URL

from clara_runner.flow.outbound import outbound_checkpoint

FANOUT_LIMITS: Final = httpx2.Limits(max_connections=512, keepalive_expiry=30.0)
"""Connections open at once over all hosts (further requests wait for one, up to the pool timeout),
and how long an idle one is kept for the next run. aiohttp keeps every idle connection until it
expires, so `max_keepalive_connections` does not apply."""

_MAX_HEADER_LINE: Final = 16 * 1024
"""Longest response status or header line read (aiohttp's default is 8190 bytes); h11, httpx2's own
parser, reads a header block of up to 16 KiB, so every answer it read is still read."""

_SKIPPED_AUTO_HEADERS: Final = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
"""Headers aiohttp would add when absent; the request carries exactly what httpx2 built."""

_ERRORS: Final[tuple[tuple[type[Exception], type[httpx2.TransportError]], ...]] = (
    (aiohttp.ConnectionTimeoutError, httpx2.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx2.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx2.ConnectError),  # refused, DNS, TLS handshake and certificate
    (aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx2.RemoteProtocolError),  # a body cut short or malformed
    (aiohttp.ClientResponseError, httpx2.RemoteProtocolError),  # a malformed status line or header
    (aiohttp.InvalidURL, httpx2.ConnectError),  # e.g. a non-canonical IPv4 host such as 127.1
    (aiohttp.ClientError, httpx2.NetworkError),
)
"""aiohttp's errors as httpx2's, most specific first: callers (and the SDKs) tell a timeout from a
refused connection from a broken answer by these classes."""


def _as_httpx(exc: aiohttp.ClientError) -> httpx2.TransportError:
    mapped = next(target for source, target in _ERRORS if isinstance(exc, source))
    return mapped(str(exc) or type(exc).__name__)


@functools.lru_cache(maxsize=64)
def client_timeout(connect: float | None, read: float | None, pool: float | None) -> aiohttp.ClientTimeout:
    """httpx2's timeouts as aiohttp's (see the module docstring); `total` is never set."""
    acquire = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=read)


class _ResponseBody(httpx2.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc) from exc

    async def aclose(self) -> None:
        """Return the connection to the pool when the body was read to its end, else close it (a
        cancelled or abandoned read must not leave the server waiting on a half-read answer)."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """httpx2 requests sent by one aiohttp session, created on first use (aiohttp binds it to the
    running event loop). Proxy environment variables are ignored, cookies are left to httpx2.

    `resolver` replaces aiohttp's DNS resolution and turns its DNS cache off, so every new connection
    asks it (the egress policy plugs in here).
    """

    def __init__(
        self,
        *,
        limits: httpx2.Limits = FANOUT_LIMITS,
        verify: ssl.SSLContext | bool = True,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._limits = limits
        self._ssl = verify if isinstance(verify, ssl.SSLContext) else httpx2.create_ssl_context(verify, trust_env=False)
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=self._ssl,
            resolver=self._resolver,
            use_dns_cache=self._resolver is None,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIPPED_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
            max_line_size=_MAX_HEADER_LINE,
            max_field_size=_MAX_HEADER_LINE,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.scheme not in ("http", "https"):
            raise httpx2.UnsupportedProtocol(f"Request URL has an unsupported protocol '{request.url.scheme}://'.")
        await outbound_checkpoint()
        if self._session is None:
            self._session = self._open_session()
        body: bytes | httpx2.AsyncByteStream | None
        try:
            body = request.content or None
        except httpx2.RequestNotRead:  # a streamed body (multipart uploads, async iterators), sent as it is read
            body = request.stream  # type: ignore[assignment]
        encoding = request.headers.encoding
        headers = [
            (name.decode(encoding), value.decode(encoding))
            for name, value in request.headers.raw
            if name.lower() != b"transfer-encoding"  # aiohttp frames the body itself
        ]
        timeout = request.extensions.get("timeout", {})
        try:
            response = await self._session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=client_timeout(timeout.get("connect"), timeout.get("read"), timeout.get("pool")),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc) from exc
        version = response.version or aiohttp.HttpVersion11
        extensions = {"http_version": f"HTTP/{version.major}.{version.minor}".encode()}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx2.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
