"""One chat completion against an OpenAI-compatible or Anthropic endpoint.

Requests are written in the OpenAI message format (what Studio's nodes build); for Anthropic they
are translated to the Messages API (system text apart, images as base64 blocks). Provider errors
become `ProviderError`s whose message says what to fix.

Anthropic goes through its official SDK (its wire format and event types). An OpenAI-compatible
completion, plain or streamed, is one JSON POST sent directly with the SDK's retry rules (`_post`),
its stream read by httpx2's `EventSource`: the SDK's request pipeline costs about 0.2 ms of CPU per call, which a
fan-out of a hundred LLM nodes pays a hundred times over while its HTTP costs 0.07 ms, and its typed
parsing of every streamed chunk delayed a streamed run's first token by about a millisecond.

The SDKs read credentials, base URLs and extra headers from the process environment when they are
not given; every such value is passed explicitly here (the key, or an explicitly omitted
`Authorization`), so a server key in `OPENAI_API_KEY` cannot reach a URL that a workflow chose.

The SDKs are imported on first use: together they cost seconds of start-up that a server (or a
`clara-runner run` of a flow without LLM nodes) should not pay.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx2
import orjson

from clara_runner.flow.errors import NodeError
from clara_runner.flow.llm_calls import LlmCall
from clara_runner.flow.nodes.endpoints import Endpoint, Wire
from clara_runner.flow.nodes.remote import error_detail, message_of
from clara_runner.flow.nodes.values import as_text
from clara_runner.flow.nodes.vision import ImageData, parse_image_url
from clara_runner.flow.usage import reported_usage

TokenSink = Callable[[str], None]


class ProviderError(NodeError):
    """The provider refused or failed the call; `status` is its HTTP status (0: no response)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: Sequence[Mapping[str, Any]]
    temperature: float
    max_tokens: int
    temperature_chosen: bool = True
    """False when the temperature is only a default: Anthropic then gets none (newer Claude models
    reject sampling parameters other than their default)."""
    response_format: Mapping[str, Any] | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    timeout: float = 120.0
    max_retries: int = 2


@dataclass(frozen=True, slots=True)
class ChatReply:
    content: str
    usage: dict[str, Any]
    model: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """OpenAI form: `{id, type: "function", function: {name, arguments}}`."""
    finish_reason: str | None = None
    """Why the model stopped (`stop`, `length`, `tool_calls`; Anthropic's `end_turn`, `max_tokens`, ...)."""

    def assistant_message(self) -> dict[str, Any]:
        """The reply as a message to append to the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return message


async def chat(endpoint: Endpoint, request: ChatRequest, on_token: TokenSink | None = None) -> ChatReply:
    """Run `request` at `endpoint`; with `on_token`, stream the reply and report each piece of text. The
    run's observer, if any, watches the call (`flow/llm_calls.py`)."""
    if endpoint.observer is None:
        return await _chat(endpoint, request, on_token)
    temperature = request.temperature if request.temperature_chosen or endpoint.wire is Wire.OPENAI else None
    call = LlmCall(endpoint.wire.value, request.model, request.max_tokens, temperature, messages=request.messages)
    with endpoint.observer(call):
        reply = await _chat(endpoint, request, on_token)
        usage = reported_usage(reply.usage)
        if usage is not None:
            call.prompt_tokens, call.completion_tokens = usage
        call.response_model, call.finish_reason, call.content = reply.model, reply.finish_reason, reply.content
    return reply


async def _chat(endpoint: Endpoint, request: ChatRequest, on_token: TokenSink | None) -> ChatReply:
    if endpoint.wire is Wire.ANTHROPIC:
        return await _anthropic_chat(endpoint, request, on_token)
    return await _openai_chat(endpoint, request, on_token)


@functools.lru_cache(maxsize=64)
def _sdk_client(
    sdk_class: Callable[..., Any], base_url: str, api_key: str, http: httpx2.AsyncClient, timeout: float, retries: int
) -> Any:
    """An SDK client (`anthropic.AsyncAnthropic`) for one endpoint, key, HTTP client and
    call settings, kept for the next call: building one costs about 0.2 ms of CPU, and a new client detects
    the platform on a worker thread at its first request, a thread hop per call that a wide fan-out of LLM
    nodes queues on. The clients hold no per-call state."""
    return sdk_class(
        api_key=api_key or "no-key", base_url=base_url, http_client=http, timeout=timeout, max_retries=retries
    )


def _client(sdk_class: Callable[..., Any], endpoint: Endpoint, request: ChatRequest) -> Any:
    return _sdk_client(
        sdk_class, endpoint.base_url, endpoint.api_key, endpoint.client, request.timeout, request.max_retries
    )


def _omitted_headers(
    endpoint: Endpoint, omit: Callable[[], object], *key_headers: str, always: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Headers the SDK would fill from the environment, removed (each SDK has its own `Omit`): the key
    headers when the node has no key, and `always` (organisation and project ids, which belong to the
    server's own account)."""
    names = always if endpoint.api_key else (*always, *key_headers)
    return {name: omit() for name in names}


async def _openai_chat(endpoint: Endpoint, request: ChatRequest, on_token: TokenSink | None) -> ChatReply:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": list(request.messages),
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    if request.response_format is not None:
        body["response_format"] = dict(request.response_format)
    if request.tools:
        body["tools"] = list(request.tools)
        body["tool_choice"] = "auto"
    if on_token is None or request.tools:
        return _read_completion(await _post(endpoint, body, request), endpoint, request.model)
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    response = await _post(endpoint, body, request, streamed=True)
    try:
        return await _read_stream(response, endpoint, request.model, on_token)
    finally:
        await response.aclose()


_RETRIED_STATUSES = frozenset({408, 409, 429})
_FIRST_RETRY_SECONDS = 0.5
_LAST_RETRY_SECONDS = 8.0
_MAX_RETRY_AFTER_SECONDS = 60.0


async def _post(
    endpoint: Endpoint, body: dict[str, Any], request: ChatRequest, *, streamed: bool = False
) -> httpx2.Response:
    """POST `body` to `{base}/chat/completions` and return the response, read in full, or `streamed`:
    once its headers arrive, its body the caller's to read and close. Retried as the OpenAI SDK does:
    connection errors, timeouts, 408, 409, 429 and 5xx, after 0.5 s doubling to at most 8 s (with
    jitter), or after the server's `Retry-After` when it asks for at most a minute."""
    client = endpoint.client
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    attempt = 0
    while True:
        retry_after: float | None = None
        outgoing = client.build_request(
            "POST", _completions_url(endpoint.base_url), json=body, headers=headers, timeout=request.timeout
        )
        try:
            response = await client.send(outgoing, stream=streamed)
            if response.status_code >= 400 and streamed:
                await _read_error(response)
        except httpx2.TimeoutException:
            failure = ProviderError(f"the LLM API at {endpoint.base_url} did not answer in time")
        except httpx2.TransportError as exc:
            failure = ProviderError(f"could not reach the LLM API at {endpoint.base_url}: {exc}")
        else:
            if response.status_code < 400:
                return response
            detail = error_detail(response) or response.reason_phrase
            failure = _status_failure(response.status_code, detail, endpoint.base_url, "LLM API")
            if response.status_code not in _RETRIED_STATUSES and response.status_code < 500:
                raise failure
            retry_after = _retry_after(response)
        if attempt == request.max_retries:
            raise failure
        backoff = min(_FIRST_RETRY_SECONDS * 2**attempt, _LAST_RETRY_SECONDS) * (1 - 0.25 * random.random())  # noqa: S311
        await asyncio.sleep(retry_after if retry_after is not None else backoff)
        attempt += 1


async def _read_error(response: httpx2.Response) -> None:
    """Read a streamed error response's body (its message) and let its connection go."""
    try:
        await response.aread()
    finally:
        await response.aclose()


@functools.lru_cache(maxsize=64)
def _completions_url(base_url: str) -> httpx2.URL:
    """Parsed once per base URL: httpx2 parses a URL string character by character, about 20 us."""
    return httpx2.URL(f"{base_url}/chat/completions")


def _retry_after(response: httpx2.Response) -> float | None:
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds <= _MAX_RETRY_AFTER_SECONDS else None


def _read_completion(response: httpx2.Response, endpoint: Endpoint, model: str) -> ChatReply:
    """The reply in a `chat.completion` body, read as plain JSON (the SDK's typed models would cost
    about half a millisecond of CPU per call)."""
    try:
        completion = response.json()
        message = completion["choices"][0]["message"]
    except (ValueError, LookupError, TypeError) as exc:
        raise ProviderError(
            f"the LLM API at {endpoint.base_url} sent no chat completion: {response.text[:200]}"
        ) from exc
    if not isinstance(message, Mapping):
        raise ProviderError(f"the LLM API at {endpoint.base_url} sent a completion without a message")
    calls = message.get("tool_calls")
    usage = completion.get("usage")
    finish_reason = completion["choices"][0].get("finish_reason")
    return ChatReply(
        content=as_text(message.get("content")),
        usage=dict(usage) if isinstance(usage, Mapping) else {},
        model=as_text(completion.get("model")) or model,
        tool_calls=[dict(call) for call in calls if isinstance(call, Mapping)] if isinstance(calls, list) else [],
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
    )


async def _read_stream(response: httpx2.Response, endpoint: Endpoint, model: str, on_token: TokenSink) -> ChatReply:
    """The reply of a streamed completion: `chat.completion.chunk` events read as plain JSON, each piece
    of text reported as it arrives, the usage from the last chunk (`include_usage`)."""
    pieces: list[str] = []
    usage: dict[str, Any] = {}
    finish_reason: str | None = None
    try:
        async for event in httpx2.EventSource(response):
            if event.data == "[DONE]":
                break
            chunk = orjson.loads(event.data)
            if chunk.get("error") is not None:
                raise ProviderError(f"the LLM API at {endpoint.base_url} failed mid-answer: {message_of(chunk)}")
            model = chunk.get("model") or model
            if isinstance(chunk.get("usage"), Mapping):
                usage = dict(chunk["usage"])
            for choice in chunk.get("choices") or ():
                finish_reason = choice.get("finish_reason") or finish_reason
                text = (choice.get("delta") or {}).get("content")
                if text:
                    pieces.append(text)
                    on_token(text)
    except httpx2.TimeoutException as exc:
        raise ProviderError(f"the LLM API at {endpoint.base_url} stopped answering mid-stream") from exc
    except (httpx2.SSEError, ValueError, AttributeError, TypeError) as exc:
        raise ProviderError(f"the LLM API at {endpoint.base_url} sent a stream that could not be read: {exc}") from exc
    except httpx2.TransportError as exc:
        raise ProviderError(f"the LLM API at {endpoint.base_url} closed the stream early: {exc}") from exc
    return ChatReply("".join(pieces), usage, model, finish_reason=finish_reason)


def _provider_error(sdk: ModuleType, exc: Exception, endpoint: Endpoint, api: str) -> ProviderError:
    """An SDK error as a message for the caller; both SDKs name their error classes alike."""
    url = endpoint.base_url
    if isinstance(exc, sdk.APIStatusError):
        return _status_failure(exc.status_code, exc.message, url, api)
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(f"the {api} at {url} did not answer in time")
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(f"could not reach the {api} at {url}: {exc.__cause__ or exc}")
    return ProviderError(f"the {api} at {url} sent an answer that could not be read: {exc}")


def _status_failure(status: int, message: str, url: str, api: str) -> ProviderError:
    if status == 401:
        return ProviderError(
            f"authentication failed at {url}: the API key is missing or invalid (set the node's apiKey)", 401
        )
    if status == 403:
        return ProviderError(f"access forbidden at {url}: check the API key's permissions", 403)
    return ProviderError(f"{api} error {status} from {url}: {message}", status)


async def _anthropic_chat(endpoint: Endpoint, request: ChatRequest, on_token: TokenSink | None) -> ChatReply:
    import anthropic

    client: anthropic.AsyncAnthropic = _client(anthropic.AsyncAnthropic, endpoint, request)
    system, messages = to_anthropic_messages(request.messages)
    options: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "extra_headers": _omitted_headers(endpoint, anthropic.Omit, "Authorization", "X-Api-Key"),
    }
    if request.temperature_chosen:
        options["extra_body"] = {"temperature": request.temperature}
    if system:
        options["system"] = system
    try:
        if on_token is None:
            reply = await client.messages.create(**options)
        else:
            async with client.messages.stream(**options) as stream:
                async for piece in stream.text_stream:
                    on_token(piece)
                reply = await stream.get_final_message()
    except anthropic.APIError as exc:
        raise _provider_error(anthropic, exc, endpoint, "Anthropic API") from exc
    text = "".join(block.text for block in reply.content if block.type == "text")
    prompt_tokens, completion_tokens = reply.usage.input_tokens, reply.usage.output_tokens
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return ChatReply(text, usage, reply.model or request.model, finish_reason=reply.stop_reason)


def to_anthropic_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-format messages as Anthropic's `(system, messages)`: system texts joined, images as blocks."""
    system: list[str] = []
    converted: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            system.append(as_text(content))
            continue
        blocks = [_anthropic_block(part) for part in content] if isinstance(content, list) else as_text(content)
        converted.append({"role": "assistant" if role == "assistant" else "user", "content": blocks})
    return "\n\n".join(system), converted


def _anthropic_block(part: Any) -> dict[str, Any]:
    if isinstance(part, Mapping) and part.get("type") == "image_url":
        url = part.get("image_url", {}).get("url", "")
        image = parse_image_url(url)
        if image is None:
            return {"type": "image", "source": {"type": "url", "url": url}}
        return {"type": "image", "source": _base64_source(image)}
    if isinstance(part, Mapping) and part.get("type") == "text":
        return {"type": "text", "text": as_text(part.get("text"))}
    return {"type": "text", "text": json.dumps(part) if not isinstance(part, str) else part}


def _base64_source(image: ImageData) -> dict[str, str]:
    return {"type": "base64", "media_type": image.media_type, "data": image.data}
