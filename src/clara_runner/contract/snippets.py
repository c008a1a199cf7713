"""Code that calls a deployed workflow: curl, Python and JavaScript, runnable as printed.

Each snippet posts the example input to the execute endpoint and prints the status and the JSON
answer. The only thing to change is `YOUR_API_KEY`. Python uses `requests`, the HTTP client most
Python installations already have (its call is the same in `httpx`: `httpx.post(url, headers=...,
json=..., timeout=...)`); JavaScript uses the built-in `fetch` with top-level `await`, as in a
browser console, Deno or a Node.js ES module.
"""

from __future__ import annotations

import json
import math
import pprint
import shlex
from collections.abc import Mapping
from typing import Any

API_KEY_PLACEHOLDER = "YOUR_API_KEY"
"""The text a user replaces with their key (tests replace it with a real one)."""


def code_snippets(endpoint: str, example: Mapping[str, Any], timeout_seconds: float) -> dict[str, str]:
    """Snippets by language (`curl`, `python`, `javascript`) posting `example` to `endpoint`.

    `timeout_seconds` is the server's execution limit: the client waits a little longer than that, so
    it sees the server's own timeout answer rather than giving up first.
    """
    wait = math.ceil(timeout_seconds) + 10
    return {
        "curl": _curl(endpoint, example, wait),
        "python": _python(endpoint, example, wait),
        "javascript": _javascript(endpoint, example),
    }


def _curl(endpoint: str, example: Mapping[str, Any], wait: int) -> str:
    body = json.dumps(example, indent=2, ensure_ascii=False)
    return (
        f"curl -sS -X POST {shlex.quote(endpoint)} \\\n"
        f"  --max-time {wait} \\\n"
        f"  -H 'Authorization: Bearer {API_KEY_PLACEHOLDER}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}\n"
    )


def _python(endpoint: str, example: Mapping[str, Any], wait: int) -> str:
    payload = pprint.pformat(dict(example), indent=4, width=100, sort_dicts=False)
    return (
        "import requests\n"
        "\n"
        f"payload = {payload}\n"
        "\n"
        "response = requests.post(\n"
        f"    {json.dumps(endpoint)},\n"
        f'    headers={{"Authorization": "Bearer {API_KEY_PLACEHOLDER}"}},\n'
        "    json=payload,\n"
        f"    timeout={wait},\n"
        ")\n"
        "print(response.status_code)\n"
        "print(response.json())\n"
    )


def _javascript(endpoint: str, example: Mapping[str, Any]) -> str:
    body = json.dumps(example, indent=2, ensure_ascii=False).replace("\n", "\n  ")
    return (
        f"const response = await fetch({json.dumps(endpoint)}, {{\n"
        '  method: "POST",\n'
        "  headers: {\n"
        f'    "Authorization": "Bearer {API_KEY_PLACEHOLDER}",\n'
        '    "Content-Type": "application/json",\n'
        "  },\n"
        f"  body: JSON.stringify({body}),\n"
        "});\n"
        "console.log(response.status);\n"
        "console.log(JSON.stringify(await response.json(), null, 2));\n"
    )
