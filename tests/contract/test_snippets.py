from __future__ import annotations

import ast
import json
import shlex
import subprocess
from pathlib import Path

from clara_runner.contract.examples import example_object
from clara_runner.contract.snippets import API_KEY_PLACEHOLDER, SNIPPETS, code_snippets
from tests.contract.support import TYPED_FLOW, contract_of

ENDPOINT = "http://127.0.0.1:3000/api/workflows/it's-typed/execute"
EXAMPLE = example_object(contract_of(TYPED_FLOW).input_schema) | {"quote": 'it\'s "quoted" $HOME `x` ünï'}


def test_curl_snippet_is_one_shell_command_sending_the_example() -> None:
    snippet = code_snippets(ENDPOINT, EXAMPLE, 300)["curl"]
    words = shlex.split(snippet.replace("\\\n", " "))
    assert words[:4] == ["curl", "-sS", "-X", "POST"]
    assert words[4] == ENDPOINT
    assert words[words.index("--max-time") + 1] == "310"
    assert f"Authorization: Bearer {API_KEY_PLACEHOLDER}" in words
    assert json.loads(words[words.index("-d") + 1]) == EXAMPLE


def test_python_snippet_is_valid_python_sending_the_example() -> None:
    snippet = code_snippets(ENDPOINT, EXAMPLE, 60)["python"]
    tree = ast.parse(snippet)
    payload = next(node for node in tree.body if isinstance(node, ast.Assign) and node.targets[0].id == "payload")  # type: ignore[attr-defined]
    assert ast.literal_eval(payload.value) == EXAMPLE
    assert "timeout=70" in snippet
    assert f'"{ENDPOINT}"' in snippet


def test_javascript_snippet_is_a_valid_module_sending_the_example(tmp_path: Path) -> None:
    snippet = code_snippets(ENDPOINT, EXAMPLE, 60)["javascript"]
    module = tmp_path / "snippet.mjs"
    module.write_text(snippet)
    subprocess.run(["node", "--check", str(module)], check=True)
    body = snippet[snippet.index("JSON.stringify(") + len("JSON.stringify(") : snippet.rindex("),\n});")]
    assert json.loads(body) == EXAMPLE


def test_every_snippet_is_valid_code_in_its_language(tmp_path: Path) -> None:
    """Stream and async snippets too: bash parses the shell, Python compiles, Node checks the module."""
    snippets = code_snippets(ENDPOINT, EXAMPLE, 60)
    assert list(snippets) == [snippet.key for snippet in SNIPPETS]
    for snippet in SNIPPETS:
        source = snippets[snippet.key]
        assert ENDPOINT in source or json.dumps(ENDPOINT) in source or shlex.quote(ENDPOINT) in source
        assert f"Bearer {API_KEY_PLACEHOLDER}" in source
        if snippet.lang == "Python":
            ast.parse(source)
        elif snippet.lang == "Shell":
            subprocess.run(["bash", "-n", "-c", source], check=True)
        else:
            module = tmp_path / f"{snippet.key}.mjs"
            module.write_text(source)
            subprocess.run(["node", "--check", str(module)], check=True)


def test_stream_and_async_snippets_ask_for_their_mode() -> None:
    snippets = code_snippets(ENDPOINT, EXAMPLE, 60)
    for language in ("curl", "python", "javascript"):
        assert "text/event-stream" in snippets[f"{language}Stream"]
        assert "respond-async" in snippets[f"{language}Async"]
        assert "statusUrl" in snippets[f"{language}Async"]
    assert " -N " in snippets["curlStream"].replace("\\\n", " ")
