"""The test console's controls follow each input field's schema: its type, its default, its example, the
media types a file field accepts."""

from __future__ import annotations

from typing import Any

import pytest

from clara_runner.contract.schema import ApiField
from clara_runner.flow.nodes.base import MISSING
from clara_runner.web.console_form import controls


def field(schema: dict[str, Any], default: Any = MISSING, required: bool = False) -> ApiField:
    return ApiField("value", "node", "input", "Value", schema, required, default)


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "string"}, "text"),
        ({"type": "number"}, "number"),
        ({"type": "integer"}, "integer"),
        ({"type": "boolean"}, "boolean"),
        ({"anyOf": [{"type": "object"}, {"type": "array"}]}, "json"),
        ({}, "json"),
        ({"type": "string", "contentEncoding": "base64", "contentMediaType": "image/png"}, "file"),
    ],
)
def test_each_type_gets_its_control(schema: dict[str, Any], kind: str) -> None:
    (control,) = controls([field(schema)])
    assert control.kind == kind


def test_defaults_examples_and_accepted_types_are_carried() -> None:
    json_field, flag, upload, text = controls(
        [
            field({"type": "object"}, default={"a": 1}),
            field({"type": "boolean"}, default=True),
            field(
                {
                    "type": "string",
                    "contentEncoding": "base64",
                    "contentMediaType": "application/pdf",
                    "examples": ["x"],
                }
            ),
            field({"type": "string", "examples": ["Ada"], "description": "Who to greet"}, required=True),
        ]
    )
    assert json_field.initial == '{\n  "a": 1\n}'
    assert flag.initial == "true"
    assert (upload.accept, upload.example) == ("application/pdf", ""), "no example text for a file"
    assert (text.example, text.description, text.required, text.initial) == ("Ada", "Who to greet", True, "")
