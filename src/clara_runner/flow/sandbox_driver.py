"""The JavaScript side's interface: the prelude every fresh isolate gets, and the calls into its driver.

Python reaches into an isolate only by evaluating short scripts (see `sandbox_prelude.js`): one starts
the evaluation, `POLL` collects its report, `answer_script` hands it a fetch answer. The server builds
the starting script; the worker process evaluates all of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

MAX_LOG_ENTRIES: Final = 200
MAX_LOG_CHARS: Final = 4000

PRELUDE: Final = (
    f"({resources.files(__package__).joinpath('sandbox_prelude.js').read_text()})"
    f"({json.dumps({'maxLogEntries': MAX_LOG_ENTRIES, 'maxLogChars': MAX_LOG_CHARS})})"
)
POLL: Final = "__clara.poll()"
TAMPERED: Final = "the script altered the sandbox's built-ins, so its result could not be read"


def node_script(code: str, inputs: Mapping[str, Any], properties: Mapping[str, Any], allow_fetch: bool) -> str:
    """Run custom-node code: `execute(inputs, properties, context)` (or a top-level `return`)."""
    arguments = json.dumps({"inputs": inputs, "properties": properties}, ensure_ascii=False, default=str)
    return f"__clara.runNode({js_string(code)}, {js_string(arguments)}, {'true' if allow_fetch else 'false'})"


def condition_script(expression: str, value: Any) -> str:
    """Evaluate an `if-else` expression with `input` (and `condition`) bound to `value`."""
    argument = json.dumps(value, ensure_ascii=False, default=str)
    return f"__clara.condition({js_string(expression)}, {js_string(argument)})"


def answer_script(request_id: int, answer: str) -> str:
    """Hand the script the answer (JSON text: `{response}` or `{error}`) to its fetch request `request_id`."""
    return f"__clara.answer({int(request_id)}, {js_string(answer)})"


def js_string(text: str) -> str:
    """`text` as a JavaScript string literal (JSON strings are valid ES2019 string literals)."""
    return json.dumps(text, ensure_ascii=False)
