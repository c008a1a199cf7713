from __future__ import annotations

from typing import Any

import pytest

from clara_runner.flow.context import HttpClients, RunContext, ServiceEndpoints
from clara_runner.flow.errors import FlowDefinitionError
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.model import Node
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.nodes.base import find_port
from clara_runner.flow.nodes.llm import LlmNode
from clara_runner.flow.nodes.templates import fill, template_variables
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.runner import run
from tests.fakes.openai_server import FakeOpenAI


def test_variables_are_listed_once_in_order() -> None:
    assert template_variables("{{ b }} and {{a}} then {{b}} {{not a var}} {{x.y}}") == ["b", "a", "x.y"]
    assert template_variables(None) == []


def test_fill_replaces_missing_values_with_nothing_and_keeps_falsy_ones() -> None:
    text = fill("{{a}}|{{b}}|{{c}}|{{d}}", {"a": 0, "b": False, "c": {"k": 1}})

    assert text == '0|false|{"k":1}|'


def test_template_variables_become_input_ports_that_win_over_aliases() -> None:
    node = Node("n", "llm", "", {"prompt": "{{input}} {{topic}} {{user}}"})
    ports = LlmNode().input_ports(node)

    assert [port.id for port in ports][:2] == ["input", "topic"]
    assert find_port(ports, "input") is ports[0]
    user = find_port(ports, "user")
    assert user is not None
    assert user.id == "user"


def flow(prompt: str, port: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "type": "input", "data": {"label": "Topic"}},
            {"id": "llm", "type": "llm", "data": {"prompt": prompt}},
            {"id": "out", "type": "output", "data": {}},
        ],
        "connections": [
            {"source": "in", "target": "llm", "targetHandle": port},
            {"source": "llm", "target": "out", "sourceHandle": "output"},
        ],
    }


async def test_a_prompt_template_is_the_user_message(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    plan = compile_flow(parse_flow(flow("Tell me about {{topic}}.", "topic")), default_registry())
    context = RunContext(services=ServiceEndpoints(openai_base_url=openai_server.base_url), http=http_clients)

    result = await run(plan, {"in": "otters"}, context)

    assert result.outputs == {"out": "echo: Tell me about otters."}


def test_a_port_that_is_no_variable_is_still_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match="has no input port 'subject'"):
        compile_flow(parse_flow(flow("Tell me about {{topic}}.", "subject")), default_registry())


async def test_the_server_engines_llm_chat_example_runs(openai_server: FakeOpenAI, http_clients: HttpClients) -> None:
    """DEPLOYMENT.md's example: type `llm-chat`, a port named by its label, `systemPrompt` in data."""
    workflow = {
        "nodes": [
            {"id": "in", "type": "input", "data": {"label": "Question"}},
            {"id": "chat", "type": "llm-chat", "data": {"systemPrompt": "You are terse."}},
            {"id": "out", "type": "output", "data": {}},
        ],
        "connections": [
            {"source": "in", "target": "chat", "targetHandle": "User Message"},
            {"source": "chat", "target": "out", "sourceHandle": "output"},
        ],
    }
    plan = compile_flow(parse_flow(workflow), default_registry())
    context = RunContext(services=ServiceEndpoints(openai_base_url=openai_server.base_url), http=http_clients)

    result = await run(plan, {"in": "why?"}, context)

    assert result.outputs == {"out": "echo: why?"}
    assert openai_server.completions()[0]["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "why?"},
    ]
