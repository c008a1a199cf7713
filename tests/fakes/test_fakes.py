"""The fakes speak the real protocols: the official SDKs can use them as they use the real services."""

from __future__ import annotations

import anthropic
import openai
import pytest

from clara_runner.flow.context import HttpClients
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI


async def test_openai_sdk_lists_models_and_streams(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.base_url, http_client=http_clients.workflow)

    models = await client.models.list()
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]

    assert [model.id for model in models.data] == ["fake-model"]
    assert "".join(piece or "" for piece in pieces) == "echo: a b c"


async def test_openai_fake_rejects_unsupported_response_formats(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    openai_server.accepts_json_object = False
    client = openai.AsyncOpenAI(
        api_key="k", base_url=openai_server.base_url, http_client=http_clients.workflow, max_retries=0
    )

    with pytest.raises(openai.BadRequestError, match="json_object is not supported"):
        await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], response_format={"type": "json_object"}
        )


async def test_anthropic_sdk_reads_the_fake(anthropic_server: FakeAnthropic, http_clients: HttpClients) -> None:
    client = anthropic.AsyncAnthropic(api_key="k", base_url=anthropic_server.url, http_client=http_clients.workflow)

    message = await client.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "hey"}])

    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hey"
    assert message.usage.output_tokens == 5
