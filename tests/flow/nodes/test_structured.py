from __future__ import annotations

import json

import pytest

from clara_runner.flow.context import HttpClients, ServiceEndpoints
from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.structured import StructuredLlmNode, parse_json_reply, schema_from_example
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.flow.nodes.remote_calls import node_call

NODE = StructuredLlmNode()
EXAMPLE = '{"name": "Ada", "age": 36, "score": 0.5, "tags": ["x"], "address": {"city": "London"}, "ok": true}'


def test_schema_from_example_is_strict_like_studios() -> None:
    assert schema_from_example(json.loads(EXAMPLE)) == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "score": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
            "ok": {"type": "boolean"},
        },
        "required": ["name", "age", "score", "tags", "address", "ok"],
        "additionalProperties": False,
    }
    assert schema_from_example([]) == {"type": "array", "items": {}}
    assert schema_from_example(None) == {"type": "null"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ("```\n[1, 2]\n```", [1, 2]),
        ('  ```JSON\n{"a": "```"}\n```  ', {"a": "```"}),
    ],
)
def test_code_fences_are_stripped(text: str, value: object) -> None:
    assert parse_json_reply(text) == value


def services(server: FakeOpenAI) -> ServiceEndpoints:
    return ServiceEndpoints(openai_base_url=server.base_url)


async def test_json_schema_from_the_example_is_requested_and_parsed(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    inputs = {"prompt": "describe Ada", "jsonExample": EXAMPLE, "context": "she wrote programs"}

    result = await NODE.run(node_call(NODE, http_clients, {}, inputs, services=services(openai_server)))

    expected = {"name": "example", "age": 1, "score": 0.5, "tags": ["example"], "address": {"city": "example"}}
    assert result["jsonOutput"] == {**expected, "ok": True}
    assert json.loads(result["rawResponse"]) == result["jsonOutput"]
    assert result["usage"]["total_tokens"] == 18
    body = openai_server.completions()[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["name"] == "structured_output"
    assert body["response_format"]["json_schema"]["description"] == (
        "Generated structured data based on the provided example"
    )
    assert body["response_format"]["json_schema"]["schema"] == schema_from_example(json.loads(EXAMPLE))
    system, user = body["messages"]
    assert system["role"] == "system"
    assert system["content"].endswith("Additional context: she wrote programs")
    assert user["content"].startswith("describe Ada\n\nPlease generate JSON data that follows this exact structure:")
    assert EXAMPLE in user["content"]


async def test_a_400_for_json_schema_falls_back_to_json_object(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.accepts_json_schema = False
    openai_server.json_reply = {"name": "from json_object"}
    inputs = {"prompt": "p", "jsonExample": '{"name": ""}'}

    result = await NODE.run(node_call(NODE, http_clients, {}, inputs, services=services(openai_server)))

    assert result["jsonOutput"] == {"name": "from json_object"}
    formats = [body.get("response_format", {}).get("type") for body in openai_server.completions()]
    assert formats == ["json_schema", "json_object"]


async def test_then_to_plain_text_with_code_fences_stripped(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.accepts_json_schema = False
    openai_server.accepts_json_object = False
    openai_server.reply = lambda _body: '```json\n{"name": "fenced"}\n```'
    inputs = {"prompt": "p", "jsonExample": '{"name": ""}'}

    result = await NODE.run(node_call(NODE, http_clients, {}, inputs, services=services(openai_server)))

    assert result["jsonOutput"] == {"name": "fenced"}
    assert result["rawResponse"] == '```json\n{"name": "fenced"}\n```'
    formats = [body.get("response_format", {}).get("type") for body in openai_server.completions()]
    assert formats == ["json_schema", "json_object", None]


async def test_errors_other_than_400_do_not_fall_back(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    openai_server.fail_next(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
    inputs = {"prompt": "p", "jsonExample": '{"name": ""}'}

    with pytest.raises(NodeError, match="authentication failed"):
        await NODE.run(node_call(NODE, http_clients, {}, inputs, services=services(openai_server)))
    assert len(openai_server.requests) == 1


async def test_an_answer_that_is_not_json_fails_clearly(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    openai_server.reply = lambda _body: "sorry, no JSON today"
    inputs = {"prompt": "p", "jsonExample": '{"name": ""}'}

    with pytest.raises(NodeError, match="invalid JSON: sorry, no JSON today"):
        await NODE.run(node_call(NODE, http_clients, {}, inputs, services=services(openai_server)))


async def test_an_invalid_example_fails_before_calling(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    inputs = {"prompt": "p", "jsonExample": "{name: unquoted}"}

    with pytest.raises(NodeError, match="jsonExample is not valid JSON"):
        await NODE.run(node_call(NODE, http_clients, {}, inputs, services=services(openai_server)))
    assert openai_server.requests == []


async def test_output_schema_and_prompt_template_of_hand_written_flows(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "confidence": {"type": "number"}}}
    data = {"prompt": "Summarise: {{analysis}} ({{missing}})", "outputSchema": schema}

    result = await NODE.run(
        node_call(NODE, http_clients, data, {"analysis": "the findings"}, services=services(openai_server))
    )

    assert result["jsonOutput"] == {"title": "example", "confidence": 0.5}
    body = openai_server.completions()[0]
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["response_format"]["json_schema"]["strict"] is False
    assert body["messages"][1]["content"].startswith("Summarise: the findings ()")


async def test_server_engine_user_port_without_example_asks_for_a_json_object(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    call = node_call(NODE, http_clients, {}, {"prompt": "anything"}, services=services(openai_server))

    result = await NODE.run(call)

    assert result["jsonOutput"] == {"answer": "fake"}
    assert openai_server.completions()[0]["response_format"] == {"type": "json_object"}


async def test_a_missing_prompt_is_a_clear_error(http_clients: HttpClients) -> None:
    with pytest.raises(NodeError, match="a prompt is required"):
        await NODE.run(node_call(NODE, http_clients, {}, {"jsonExample": "{}"}))


async def test_anthropic_answers_are_parsed_from_text(
    anthropic_server: FakeAnthropic, http_clients: HttpClients
) -> None:
    anthropic_server.reply = lambda _body: '```json\n{"name": "Claude"}\n```'
    service = ServiceEndpoints(anthropic_base_url=anthropic_server.url)
    inputs = {"prompt": "who?", "jsonExample": '{"name": ""}'}

    result = await NODE.run(node_call(NODE, http_clients, {"provider": "anthropic"}, inputs, services=service))

    assert result["jsonOutput"] == {"name": "Claude"}
    assert "response_format" not in anthropic_server.messages()[0]
