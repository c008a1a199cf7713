"""Helpers shared by the streaming benchmarks (`stream_first_token.py`, `open_streams.py`, `llm_fanout.py`).

* `fake_openai`: the OpenAI-compatible fake (`tests/fakes/openai_server.py`) in its own process, so
  that its work (and its event loop) is not the benchmark's nor the server's;
* `chat_body`: the body the `llm` node of `ask_flow()` sends for a question, with the node's own
  defaults, so the floor asks the upstream exactly what the runner asks it;
* `sse_events`: a cheap Server-Sent Events reader over an aiohttp response, used the same way for the
  floor and for the runner, so that the client's own cost is the same on both sides;
* `rss_kib`: a process's resident memory, from `/proc/<pid>/status`.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx2

from clara_runner.flow.nodes.llm import LLM_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
FAKE_KEY = "sk-bench"
"""The key the runner is given for the fake (`OPENAI_API_KEY`); the fake accepts any."""


def start_fake_openai(port: int, delay: float, token_delay: float = 0.0) -> subprocess.Popen[bytes]:
    """The fake on `port`, answering after `delay` seconds and then streaming a chunk every `token_delay`."""
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port), "--delay", str(delay)]
    process = subprocess.Popen([*command, "--token-delay", str(token_delay)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return process
        except httpx2.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the fake OpenAI server did not start")


@contextmanager
def fake_openai(delay: float, token_delay: float) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """(the fake's process, its base URL ending in `/v1`), stopped when the block ends."""
    from bench.execute_throughput import free_port

    port = free_port()
    process = start_fake_openai(port, delay, token_delay)
    try:
        yield process, f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def chat_body(question: str) -> dict[str, Any]:
    """What the `llm` node of `ask_flow()` posts for `question` in a streamed run (`flow/nodes/chat.py`)."""
    return {
        "model": LLM_DEFAULTS["model"],
        "messages": [{"role": "user", "content": question}],
        "temperature": LLM_DEFAULTS["temperature"],
        "max_tokens": LLM_DEFAULTS["maxTokens"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def answer_of(question: str) -> str:
    """What the fake answers to `question` (its default reply)."""
    return f"echo: {question}"


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    data: str
    id: str | None


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """Each event of an SSE response as its closing blank line arrives (comments and heartbeats skipped)."""
    name, event_id = "message", None
    data: list[str] = []
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield Event(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None
            continue
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            data.append(value.decode())
        elif field == b"event":
            name = value.decode()
        elif field == b"id":
            event_id = value.decode()


def rss_kib(pid: int) -> int:
    """Resident memory of process `pid` in KiB (`VmRSS`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def raise_open_files_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it); return the new limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
