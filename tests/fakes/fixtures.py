"""Pytest fixtures for the fake services: each test gets fresh servers, stopped afterwards.

`tests/conftest.py` imports them, so any test can ask for `openai_server`, `anthropic_server`,
`mcp_proxy`, `clara_assistant`, `http_api`, `backend` (the Clara Python backend) or `comfy` (ComfyUI).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.clara_assistant import FakeClaraAssistant
from tests.fakes.clara_backend import FakeClaraBackend
from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.http_api import FakeHttpApi
from tests.fakes.mcp_proxy import FakeMcpProxy
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def mcp_proxy() -> Iterator[FakeMcpProxy]:
    with FakeMcpProxy.with_search_tool() as server:
        yield server


@pytest.fixture
def clara_assistant() -> Iterator[FakeClaraAssistant]:
    with FakeClaraAssistant() as server:
        yield server


@pytest.fixture
def http_api() -> Iterator[FakeHttpApi]:
    with FakeHttpApi() as server:
        yield server


@pytest.fixture
def backend() -> Iterator[FakeClaraBackend]:
    with FakeClaraBackend() as server:
        yield server


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as server:
        yield server
