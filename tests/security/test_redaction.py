"""What counts as a secret, and how it is replaced."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clara_runner.flow.formats import parse_flow
from clara_runner.security.redaction import REDACTED, Redactor, is_sensitive_key, secrets_in, workflow_secrets


@pytest.mark.parametrize(
    "key",
    [
        "apiKey",
        "api_key",
        "API-Key",
        "X-API-Key",
        "customProviderKey",
        "token",
        "accessToken",
        "refresh_token",
        "x-auth-token",
        "password",
        "db_password",
        "secret",
        "client_secret",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "privateKey",
        "aws_secret_access_key",
        "credentials",
    ],
)
def test_secret_names(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key", ["maxTokens", "inputTokens", "tokenizer", "author", "keywords", "secretary", "passage", "label", "key"]
)
def test_ordinary_names(key: str) -> None:
    assert not is_sensitive_key(key)


def test_known_values_and_secret_shapes_are_replaced_in_text() -> None:
    redactor = Redactor(["planted-secret-value", "abc"])
    text = (
        "upstream said planted-secret-value is invalid; Authorization: Bearer eyJhbGciOi.payload.sig; "
        "key clara_sk_0123456789abcdef; openai sk-proj-ABCDEFGHIJKLMNOPQRSTUV; "
        "url https://x.example/v1?model=m&api_key=hunter22&q=1; abc stays"
    )
    assert redactor.text(text) == (
        f"upstream said {REDACTED} is invalid; Authorization: Bearer {REDACTED}; "
        f"key {REDACTED}; openai {REDACTED}; "
        f"url https://x.example/v1?model=m&api_key={REDACTED}&q=1; abc stays"
    )


def test_values_keep_their_shape_and_ordinary_data() -> None:
    redactor = Redactor(["s3cr3t-value"])
    value: dict[str, Any] = {
        "apiKey": "anything",
        "password": 1234,
        "isSecret": False,
        "token": "",
        "usage": {"maxTokens": 100, "inputTokens": 7},
        "list": ["has s3cr3t-value inside", 1, None, True],
        "s3cr3t-value": "key text is redacted too",
    }
    assert redactor.value(value) == {
        "apiKey": REDACTED,
        "password": REDACTED,
        "isSecret": False,
        "token": "",
        "usage": {"maxTokens": 100, "inputTokens": 7},
        "list": [f"has {REDACTED} inside", 1, None, True],
        REDACTED: "key text is redacted too",
    }


def test_deep_values_do_not_exhaust_the_stack() -> None:
    value: Any = "s3cr3t-value"
    for _ in range(50_000):
        value = [value]
    redacted = Redactor(["s3cr3t-value"]).value(value)
    for _ in range(50_000):
        redacted = redacted[0]
    assert redacted == REDACTED


def test_short_values_are_only_hidden_under_secret_names() -> None:
    redactor = Redactor(["pw1"])
    assert redactor.secrets == frozenset()
    assert redactor.value({"password": "pw1", "note": "pw1"}) == {"password": REDACTED, "note": "pw1"}


def test_secrets_are_found_in_every_header_form() -> None:
    found = secrets_in(
        {
            "headers": {"Authorization": "Bearer tok-object-form", "Accept": "application/json"},
            "headerList": [{"key": "X-API-Key", "value": "tok-pair-form"}, {"key": "Accept", "value": "text/html"}],
            "headersText": json.dumps({"authorization": "Basic dG9rLWpzb24tdGV4dA=="}),
            "nested": {"customProviderKey": {"deep": ["tok-nested-list"]}},
        }
    )
    assert found == {
        "Bearer tok-object-form",
        "tok-object-form",
        "tok-pair-form",
        "Basic dG9rLWpzb24tdGV4dA==",
        "dG9rLWpzb24tdGV4dA==",
        "tok-nested-list",
    }


def test_workflow_secrets_include_sensitive_inputs_and_custom_node_properties() -> None:
    flow = parse_flow(
        {
            "nodes": [
                {"id": "pin", "type": "input", "data": {"label": "Pin", "sensitive": True, "value": "pin-default-1"}},
                {"id": "plain", "type": "input", "data": {"label": "Name", "value": "not-a-secret"}},
                {"id": "llm", "type": "llm", "data": {"apiKey": "sk-in-workflow-000000000000"}},
                {"id": "c", "type": "weather", "data": {"properties": {"prop_1": "custom-prop-key", "prop_2": "city"}}},
            ],
            "connections": [],
            "customNodes": [
                {
                    "type": "weather",
                    "executionCode": "return {}",
                    "properties": [{"id": "prop_1", "name": "API Key"}, {"id": "prop_2", "name": "City"}],
                }
            ],
        }
    )
    assert workflow_secrets(flow) == {"pin-default-1", "sk-in-workflow-000000000000", "custom-prop-key"}


def test_flat_lists_of_many_strings_are_redacted_wherever_the_secret_sits() -> None:
    redactor = Redactor(["s3cr3t-value"])
    strings: list[Any] = ["ab"] * 10_000 + [1, None, "key s3cr3t-value here"] + ["cd"] * 5_000 + ["sk-" + "x" * 20]
    redacted = redactor.value({"list": strings})["list"]
    assert redacted[10_002] == f"key {REDACTED} here"
    assert redacted[-1] == REDACTED
    assert redacted[:10_002] == strings[:10_002]
    assert redacted[10_003:-1] == strings[10_003:-1]


def test_a_flat_mapping_is_redacted_as_a_nested_one_would_be() -> None:
    """A mapping of plain values (a log line) is checked in one search: the keys, the texts and the
    secret-named fields still count, and a clean one comes back equal."""
    redactor = Redactor(["s3cr3t-value"])
    clean = {"event": "request", "status": 200, "duration_ms": 1.5, "route": "/api/x", "key_prefix": "ab12", "x": None}
    assert redactor.value(clean) == clean
    assert redactor.value({**clean, "note": "has s3cr3t-value"})["note"] == f"has {REDACTED}"
    assert redactor.value({**clean, "api_key": "abc"})["api_key"] == REDACTED
    assert redactor.value({**clean, "s3cr3t-value": 1}) == {**clean, REDACTED: 1}
    assert redactor.value({"nested": clean}) == {"nested": clean}


def test_a_match_across_two_strings_of_a_list_changes_neither() -> None:
    """`?key=` ends one string and the next starts a value: joined they look like a secret parameter,
    apart they are not."""
    pieces = ["see ?key=", "value", "Bearer", "abcdefgh"]
    assert Redactor().value(pieces) == pieces


def test_json_text_in_a_long_flat_list_is_searched_for_secrets() -> None:
    headers = json.dumps({"Authorization": "Bearer tok-in-a-list"})
    assert secrets_in(["plain"] * 9_000 + ["  " + headers] + ["plain"]) == {"Bearer tok-in-a-list", "tok-in-a-list"}
    assert secrets_in(["plain", 3, None] * 9_000) == set()


def test_the_key_placeholder_of_a_hint_is_not_redacted() -> None:
    hint = "Please provide an API key in the Authorization header: Bearer clara_sk_..."
    assert Redactor().text(hint) == hint
    assert Redactor().text("Bearer clara_sk_0123456789abcdef") == f"Bearer {REDACTED}"
