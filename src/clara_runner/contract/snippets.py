"""Code that calls a deployed workflow: curl, Python and JavaScript, runnable as printed.

Three modes, each in the three languages. The only thing to change is `YOUR_API_KEY`.

* **sync**: post the example input and print the status and the JSON answer. Python uses `requests`,
  the HTTP client most Python installations already have (its call is the same in `httpx`:
  `httpx.post(url, headers=..., json=..., timeout=...)`).
* **stream**: ask for `text/event-stream` and print each event as it comes, `<event> <data>` on one
  line, the last being `run.finished` with the sync body (or `run.failed` with the error). The SSE
  lines are read by hand (`event:` then `data:`), so no SSE package is needed: Python uses `httpx`,
  whose `iter_lines` yields each line as it arrives, JavaScript a reader over the response body.
* **async**: `Prefer: respond-async`, print the 202, then poll its `statusUrl` every second until the
  run is no longer `queued` or `running` and print it.

JavaScript uses the built-in `fetch` with top-level `await`, as in a browser console, Deno or a
Node.js ES module. A snippet's key names its mode and language (`pythonStream`); `SNIPPETS` lists them
in the order the docs pages show them, with their titles and the language ReDoc highlights them as.
"""

from __future__ import annotations

import json
import math
import pprint
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

API_KEY_PLACEHOLDER = "YOUR_API_KEY"
"""The text a user replaces with their key (tests replace it with a real one)."""

POLL_SECONDS = 1
"""How often the async snippets ask for the run's status."""


@dataclass(frozen=True, slots=True)
class Snippet:
    key: str
    lang: str
    """The language ReDoc highlights the snippet as (`x-codeSamples` `lang`)."""
    title: str


SNIPPETS: tuple[Snippet, ...] = (
    Snippet("curl", "Shell", "curl"),
    Snippet("python", "Python", "Python (requests)"),
    Snippet("javascript", "JavaScript", "JavaScript (fetch)"),
    Snippet("curlStream", "Shell", "curl: stream the run's events"),
    Snippet("pythonStream", "Python", "Python (httpx): stream the run's events"),
    Snippet("javascriptStream", "JavaScript", "JavaScript (fetch): stream the run's events"),
    Snippet("curlAsync", "Shell", "curl: start the run, then poll it"),
    Snippet("pythonAsync", "Python", "Python (httpx): start the run, then poll it"),
    Snippet("javascriptAsync", "JavaScript", "JavaScript (fetch): start the run, then poll it"),
)
SNIPPET_TITLES: Mapping[str, str] = {snippet.key: snippet.title for snippet in SNIPPETS}


@dataclass(frozen=True, slots=True)
class _Call:
    """What every snippet sends: the endpoint, the example body, and how long the client waits."""

    endpoint: str
    example: Mapping[str, Any]
    wait: int

    def json_body(self) -> str:
        return json.dumps(self.example, indent=2, ensure_ascii=False)

    def python_payload(self) -> str:
        return pprint.pformat(dict(self.example), indent=4, width=100, sort_dicts=False)

    def javascript_body(self) -> str:
        return self.json_body().replace("\n", "\n  ")


def code_snippets(endpoint: str, example: Mapping[str, Any], timeout_seconds: float) -> dict[str, str]:
    """Every snippet of `SNIPPETS` by key, each posting `example` to `endpoint`.

    `timeout_seconds` is the server's execution limit: the client waits a little longer than that, so
    it sees the server's own timeout answer rather than giving up first. For a stream, it bounds the
    wait for each line only (heartbeats keep a quiet stream alive), not the run.
    """
    call = _Call(endpoint, example, math.ceil(timeout_seconds) + 10)
    writers: dict[str, Callable[[_Call], str]] = {
        "curl": _curl,
        "python": _python,
        "javascript": _javascript,
        "curlStream": _curl_stream,
        "pythonStream": _python_stream,
        "javascriptStream": _javascript_stream,
        "curlAsync": _curl_async,
        "pythonAsync": _python_async,
        "javascriptAsync": _javascript_async,
    }
    return {snippet.key: writers[snippet.key](call) for snippet in SNIPPETS}


def _curl_post(call: _Call, *options: str, headers: tuple[str, ...] = ()) -> str:
    """`curl ... -X POST <endpoint>` with the key, the JSON body and the extra options and headers, one per line."""
    lines = [
        *options,
        f"-H 'Authorization: Bearer {API_KEY_PLACEHOLDER}'",
        "-H 'Content-Type: application/json'",
        *(f"-H {shlex.quote(header)}" for header in headers),
        f"-d {shlex.quote(call.json_body())}",
    ]
    return f"curl -sS -X POST {shlex.quote(call.endpoint)}" + "".join(f" \\\n  {line}" for line in lines)


def _curl(call: _Call) -> str:
    return _curl_post(call, f"--max-time {call.wait}") + "\n"


def _curl_stream(call: _Call) -> str:
    return (
        "# -N prints each event as it arrives; the stream ends after run.finished or run.failed\n"
        + _curl_post(call, "-N", headers=("Accept: text/event-stream",))
        + "\n"
    )


def _curl_async(call: _Call) -> str:
    auth = f"-H 'Authorization: Bearer {API_KEY_PLACEHOLDER}'"
    start = _curl_post(call, f"--max-time {call.wait}", headers=("Prefer: respond-async",))
    return (
        "# 202 at once: the run goes on in the server; poll its statusUrl until it is no longer queued or running\n"
        f"run=$({start})\n"
        'echo "$run"\n'
        'status_url=$(printf \'%s\' "$run" | sed -n \'s/.*"statusUrl":"\\([^"]*\\)".*/\\1/p\')\n'
        'while [ -n "$status_url" ]; do\n'
        f"  sleep {POLL_SECONDS}\n"
        f'  run=$(curl -sS --max-time 30 {auth} "$status_url")\n'
        '  case "$run" in *\'"status":"running"\'*|*\'"status":"queued"\'*) ;; *) echo "$run"; break ;; esac\n'
        "done\n"
    )


def _python(call: _Call) -> str:
    return (
        "import requests\n"
        "\n"
        f"payload = {call.python_payload()}\n"
        "\n"
        "response = requests.post(\n"
        f"    {json.dumps(call.endpoint)},\n"
        f'    headers={{"Authorization": "Bearer {API_KEY_PLACEHOLDER}"}},\n'
        "    json=payload,\n"
        f"    timeout={call.wait},\n"
        ")\n"
        "print(response.status_code)\n"
        "print(response.json())\n"
    )


def _python_stream(call: _Call) -> str:
    return (
        "import httpx\n"
        "\n"
        f"payload = {call.python_payload()}\n"
        "\n"
        "with httpx.stream(\n"
        '    "POST",\n'
        f"    {json.dumps(call.endpoint)},\n"
        f'    headers={{"Authorization": "Bearer {API_KEY_PLACEHOLDER}", "Accept": "text/event-stream"}},\n'
        "    json=payload,\n"
        f"    timeout={call.wait},\n"
        ") as response:\n"
        "    print(response.status_code)\n"
        '    if not response.headers["content-type"].startswith("text/event-stream"):\n'
        "        print(response.read().decode())  # an error found before the run started\n"
        "    else:\n"
        '        event = "message"\n'
        "        for line in response.iter_lines():\n"
        '            if line.startswith("event:"):\n'
        "                event = line[6:].strip()\n"
        '            elif line.startswith("data:"):\n'
        "                print(event, line[5:].strip())  # the last is run.finished (or run.failed)\n"
    )


def _python_async(call: _Call) -> str:
    return (
        "import time\n"
        "\n"
        "import httpx\n"
        "\n"
        f"payload = {call.python_payload()}\n"
        f'headers = {{"Authorization": "Bearer {API_KEY_PLACEHOLDER}"}}\n'
        "\n"
        "response = httpx.post(\n"
        f"    {json.dumps(call.endpoint)},\n"
        '    headers={**headers, "Prefer": "respond-async"},\n'
        "    json=payload,\n"
        f"    timeout={call.wait},\n"
        ")\n"
        "print(response.status_code)  # 202: the run goes on in the server\n"
        "run = response.json()\n"
        "if response.status_code == 202:\n"
        '    status_url = run["statusUrl"]\n'
        "    while True:\n"
        f"        time.sleep({POLL_SECONDS})\n"
        "        run = httpx.get(status_url, headers=headers, timeout=30).json()\n"
        '        if run.get("execution", {}).get("status") not in ("queued", "running"):\n'
        "            break\n"
        "print(run)\n"
    )


def _fetch(call: _Call, *headers: str) -> str:
    """`const response = await fetch(...)`: POST the example with the key and `headers` (JS source lines)."""
    extra = "".join(f"    {header},\n" for header in headers)
    return (
        f"const response = await fetch({json.dumps(call.endpoint)}, {{\n"
        '  method: "POST",\n'
        "  headers: {\n"
        f'    "Authorization": "Bearer {API_KEY_PLACEHOLDER}",\n'
        '    "Content-Type": "application/json",\n'
        f"{extra}"
        "  },\n"
        f"  body: JSON.stringify({call.javascript_body()}),\n"
        "});\n"
        "console.log(response.status);\n"
    )


def _javascript(call: _Call) -> str:
    return _fetch(call) + "console.log(JSON.stringify(await response.json(), null, 2));\n"


def _javascript_stream(call: _Call) -> str:
    return _fetch(call, '"Accept": "text/event-stream"') + (
        'if (!response.headers.get("content-type").startsWith("text/event-stream")) {\n'
        "  console.log(await response.text()); // an error found before the run started\n"
        "} else {\n"
        "  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();\n"
        '  let buffer = "";\n'
        '  let event = "message";\n'
        "  for (;;) {\n"
        "    const { value, done } = await reader.read();\n"
        "    if (done) break;\n"
        "    buffer += value;\n"
        "    const lines = buffer.split(/\\r?\\n/);\n"
        "    buffer = lines.pop(); // an incomplete line waits for the next chunk\n"
        "    for (const line of lines) {\n"
        '      if (line.startsWith("event:")) event = line.slice(6).trim();\n'
        '      else if (line.startsWith("data:")) console.log(event, line.slice(5).trim());\n'
        "    }\n"
        "  }\n"
        "}\n"
    )


def _javascript_async(call: _Call) -> str:
    return _fetch(call, '"Prefer": "respond-async"') + (
        "let run = await response.json();\n"
        "if (response.status === 202) {\n"
        "  // the run goes on in the server: poll its statusUrl until it is no longer running\n"
        "  const statusUrl = run.statusUrl;\n"
        "  do {\n"
        f"    await new Promise((resolve) => setTimeout(resolve, {POLL_SECONDS * 1000}));\n"
        "    const polled = await fetch(statusUrl, {\n"
        f'      headers: {{ "Authorization": "Bearer {API_KEY_PLACEHOLDER}" }},\n'
        "    });\n"
        "    run = await polled.json();\n"
        '  } while (["queued", "running"].includes(run.execution?.status));\n'
        "}\n"
        "console.log(JSON.stringify(run, null, 2));\n"
    )
