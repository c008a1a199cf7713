from __future__ import annotations

import base64

import pytest

from clara_runner.flow.context import HttpClients, ServiceEndpoints
from clara_runner.flow.errors import NodeError
from clara_runner.flow.events import NodeMessage
from clara_runner.flow.nodes.llm import LlmNode
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.flow.nodes.remote_calls import Events, node_call

LLM = LlmNode()
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def services_for(server: FakeOpenAI, key: str = "server-key") -> ServiceEndpoints:
    return ServiceEndpoints(openai_base_url=server.base_url, openai_api_key=key)


async def test_calls_the_configured_base_url_with_the_server_key_and_studio_defaults(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    call = node_call(LLM, http_clients, {}, {"user": "hi"}, services=services_for(openai_server))

    result = await LLM.run(call)

    assert result == {
        "response": "echo: hi",
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
    (request,) = openai_server.requests
    assert request.headers["authorization"] == "Bearer server-key"
    body = request.json()
    assert body["model"] == "gpt-3.5-turbo"
    assert body["temperature"] == 0.7
    assert body["max_tokens"] == 1000
    assert body["messages"] == [{"role": "user", "content": "hi"}]


async def test_temperature_zero_and_max_tokens_are_sent_as_given(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    data = {"temperature": 0, "maxTokens": 5, "model": "small"}
    await LLM.run(node_call(LLM, http_clients, data, {"user": "hi"}, services=services_for(openai_server)))

    body = openai_server.completions()[0]
    assert (body["temperature"], body["max_tokens"], body["model"]) == (0, 5, "small")


async def test_messages_are_system_memory_context_then_user(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    memory = '[{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}]'
    inputs = {"system": "be brief", "memory": memory, "context": "the sky is green", "user": "colour?"}
    await LLM.run(node_call(LLM, http_clients, {}, inputs, services=services_for(openai_server)))

    assert openai_server.completions()[0]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "reply"},
        {"role": "system", "content": "Context: the sky is green"},
        {"role": "user", "content": "colour?"},
    ]


async def test_system_message_property_is_the_server_engine_fallback(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    call = node_call(LLM, http_clients, {"systemMessage": "saved"}, {"user": "x"}, services=services_for(openai_server))
    await LLM.run(call)

    assert openai_server.completions()[0]["messages"][0] == {"role": "system", "content": "saved"}


async def test_a_memory_item_without_a_role_fails_the_node(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    call = node_call(
        LLM, http_clients, {}, {"user": "x", "memory": [{"text": "no role"}]}, services=services_for(openai_server)
    )

    with pytest.raises(NodeError, match=r"memory\[0\] must be a message object"):
        await LLM.run(call)
    assert openai_server.requests == []


@pytest.mark.parametrize(
    ("image", "url"),
    [
        (f"data:image/webp;base64,{PNG}", f"data:image/webp;base64,{PNG}"),
        (PNG, f"data:image/png;base64,{PNG}"),
        ({"base64": f"data:image/png;base64,{PNG}", "metadata": {}}, f"data:image/png;base64,{PNG}"),
        ("/9j/4AAQSkZJRg==", "data:image/jpeg;base64,/9j/4AAQSkZJRg=="),
    ],
)
async def test_images_are_sent_as_vision_parts(
    openai_server: FakeOpenAI, http_clients: HttpClients, image: object, url: str
) -> None:
    call = node_call(
        LLM, http_clients, {}, {"user": "what is it?", "image": image}, services=services_for(openai_server)
    )
    await LLM.run(call)

    assert openai_server.completions()[0]["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": {"url": url}}],
    }


async def test_text_that_is_no_image_fails_before_calling(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    call = node_call(
        LLM, http_clients, {}, {"user": "x", "image": "not an image!"}, services=services_for(openai_server)
    )

    with pytest.raises(NodeError, match="neither a data URL nor base64"):
        await LLM.run(call)


async def test_a_missing_user_message_is_a_clear_error(http_clients: HttpClients) -> None:
    with pytest.raises(NodeError, match="user message is required"):
        await LLM.run(node_call(LLM, http_clients, {}, {"system": "only a system prompt"}))


async def test_a_rejected_key_says_authentication_failed(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    openai_server.api_key = "the-right-key"
    data = {"apiBaseUrl": openai_server.base_url, "apiKey": "a-wrong-key"}

    with pytest.raises(NodeError, match=r"authentication failed .* API key is missing or invalid"):
        await LLM.run(node_call(LLM, http_clients, data, {"user": "x"}))
    assert openai_server.requests[0].headers["authorization"] == "Bearer a-wrong-key"


async def test_an_http_error_reports_the_status(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    openai_server.fail_next(503, {"error": {"message": "overloaded", "type": "server_error"}})
    data = {"apiBaseUrl": openai_server.base_url, "maxRetries": 0}

    with pytest.raises(NodeError, match=r"LLM API error 503 .*overloaded"):
        await LLM.run(node_call(LLM, http_clients, data, {"user": "x"}))


async def test_server_errors_are_retried_up_to_max_retries(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.fail_next(500, {"error": {"message": "boom", "type": "server_error"}})
    data = {"apiBaseUrl": openai_server.base_url, "maxRetries": 1}

    result = await LLM.run(node_call(LLM, http_clients, data, {"user": "again"}))

    assert result["response"] == "echo: again"
    assert len(openai_server.requests) == 2


async def test_a_client_error_is_not_retried(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    openai_server.fail_next(400, {"error": {"message": "model not found", "type": "invalid_request_error"}})
    data = {"apiBaseUrl": openai_server.base_url, "maxRetries": 2}

    with pytest.raises(NodeError, match=r"LLM API error 400 .*model not found"):
        await LLM.run(node_call(LLM, http_clients, data, {"user": "x"}))
    assert len(openai_server.requests) == 1


async def test_a_dropped_connection_is_retried(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    openai_server.drop_next()
    data = {"apiBaseUrl": openai_server.base_url, "maxRetries": 1}

    result = await LLM.run(node_call(LLM, http_clients, data, {"user": "after a drop"}))

    assert result["response"] == "echo: after a drop"
    assert len(openai_server.requests) == 2


async def test_an_empty_answer_fails_the_node(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    openai_server.reply = lambda _body: ""

    with pytest.raises(NodeError, match="returned no content"):
        await LLM.run(node_call(LLM, http_clients, {"apiBaseUrl": openai_server.base_url}, {"user": "x"}))


async def test_an_unreachable_api_names_the_url(http_clients: HttpClients) -> None:
    data = {"apiBaseUrl": "http://127.0.0.1:9/v1", "maxRetries": 0}

    with pytest.raises(NodeError, match=r"could not reach the LLM API at http://127\.0\.0\.1:9/v1"):
        await LLM.run(node_call(LLM, http_clients, data, {"user": "x"}))


async def test_streaming_reports_tokens_and_returns_the_whole_answer(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.reply = lambda _body: "three word answer"
    events = Events()
    call = node_call(
        LLM, http_clients, {"apiBaseUrl": openai_server.base_url, "stream": True}, {"user": "x"}, events=events
    )

    result = await LLM.run(call)

    assert result["response"] == "three word answer"
    assert result["usage"]["total_tokens"] == 18
    tokens = [event.payload for event in events.seen if isinstance(event, NodeMessage) and event.kind == "token"]
    assert tokens == ["three ", "word ", "answer"]
    body = openai_server.completions()[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_a_streamed_call_is_retried_before_its_first_token(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.fail_next(503, {"error": {"message": "overloaded", "type": "server_error"}})
    openai_server.reply = lambda _body: "after a retry"
    events = Events()
    data = {"apiBaseUrl": openai_server.base_url, "stream": True, "maxRetries": 1}

    result = await LLM.run(node_call(LLM, http_clients, data, {"user": "x"}, events=events))

    assert result["response"] == "after a retry"
    assert len(openai_server.completions()) == 2
    assert "".join(event.payload for event in events.seen if isinstance(event, NodeMessage)) == "after a retry"


async def test_an_error_in_the_middle_of_a_stream_fails_the_node_with_its_message(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.reply = lambda _body: "never finished answer"
    openai_server.stream_error = "the model crashed"
    events = Events()
    data = {"apiBaseUrl": openai_server.base_url, "stream": True}

    with pytest.raises(NodeError, match=r"LLM API at .* failed mid-answer: the model crashed"):
        await LLM.run(node_call(LLM, http_clients, data, {"user": "x"}, events=events))
    assert [event.payload for event in events.seen if isinstance(event, NodeMessage)] == ["never "]


async def test_anthropic_provider_uses_the_messages_api(
    anthropic_server: FakeAnthropic, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(anthropic_base_url=anthropic_server.url, anthropic_api_key="anthropic-key")
    data = {"provider": "anthropic", "model": "claude-test", "temperature": 0}
    inputs = {"system": "be brief", "context": "ctx", "user": "look", "image": PNG}

    result = await LLM.run(node_call(LLM, http_clients, data, inputs, services=services))

    assert result == {
        "response": "echo: look [1 image(s)]",
        "usage": {"prompt_tokens": 13, "completion_tokens": 5, "total_tokens": 18},
    }
    (request,) = anthropic_server.requests
    assert request.headers["authorization"] == "Bearer anthropic-key"
    assert request.headers["anthropic-version"]
    body = request.json()
    assert body["model"] == "claude-test"
    assert body["temperature"] == 0
    assert body["max_tokens"] == 1000
    assert body["system"] == "be brief\n\nContext: ctx"
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            ],
        }
    ]


async def test_anthropic_streaming_reports_each_text_delta_and_the_usage(
    anthropic_server: FakeAnthropic, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(anthropic_base_url=anthropic_server.url, anthropic_api_key="anthropic-key")
    data = {"provider": "anthropic", "model": "claude-test", "stream": True}
    events = Events()

    result = await LLM.run(
        node_call(LLM, http_clients, data, {"user": "three words"}, services=services, events=events)
    )

    assert result == {
        "response": "echo: three words",
        "usage": {"prompt_tokens": 13, "completion_tokens": 5, "total_tokens": 18},
    }
    tokens = [event.payload for event in events.seen if isinstance(event, NodeMessage) and event.kind == "token"]
    assert tokens == ["echo: ", "three ", "words"]
    assert anthropic_server.messages()[0]["stream"] is True


async def test_a_base_url_under_the_configured_anthropic_url_selects_anthropic(
    anthropic_server: FakeAnthropic, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(anthropic_base_url=anthropic_server.url)
    data = {"apiBaseUrl": f"{anthropic_server.url}/v1", "apiKey": "own"}

    result = await LLM.run(node_call(LLM, http_clients, data, {"user": "hello"}, services=services))

    assert result["response"] == "echo: hello"
    assert anthropic_server.requests[0].path == "/v1/messages"
    assert anthropic_server.requests[0].headers["authorization"] == "Bearer own"
    assert "temperature" not in anthropic_server.messages()[0], "a default temperature is not sent to Claude"


async def test_anthropic_authentication_failure_is_reported(
    anthropic_server: FakeAnthropic, http_clients: HttpClients
) -> None:
    anthropic_server.api_key = "right"
    services = ServiceEndpoints(anthropic_base_url=anthropic_server.url)
    data = {"provider": "anthropic", "apiKey": "wrong"}

    with pytest.raises(NodeError, match="authentication failed"):
        await LLM.run(node_call(LLM, http_clients, data, {"user": "x"}, services=services))


async def test_a_body_that_is_no_chat_completion_is_reported(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.fail_next(200, {"unexpected": True})

    with pytest.raises(NodeError, match=r"sent no chat completion: \{\"unexpected\":true\}"):
        await LLM.run(node_call(LLM, http_clients, {"apiBaseUrl": openai_server.base_url}, {"user": "x"}))
