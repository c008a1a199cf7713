from __future__ import annotations

import pytest

from clara_runner.contract.fields import assign_names, field_name
from clara_runner.flow.model import Node


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("User Name", "userName"),
        ("SDK Field", "sDKField"),
        ("Studio Field", "studioField"),
        ("my-input", "myinput"),
        ("1753607502081-eoh6gq0xr", "1753607502081eoh6gq0xr"),
        ("How can i help you", "howCanIHelpYou"),
        ("  Trim me  ", "trimMe"),
        ("!!!", "input"),
        ("日本語", "input"),
        ("Café au lait", "cafAuLait"),
    ],
)
def test_field_name_follows_the_reference_rule(label: str, name: str) -> None:
    assert field_name(label) == name


def test_output_names_fall_back_from_output_label_to_label_to_name_to_id() -> None:
    nodes = [
        Node("o1", "output", "Output", {"outputLabel": "Final Answer", "label": "ignored"}),
        Node("o2", "output", "Output", {"label": "Summary"}),
        Node("o3", "output", "Result Node", {}),
        Node("1753-x", "output", "", {}),
    ]
    named, warnings = assign_names(nodes, outputs=True)
    assert [n.field for n in named] == ["finalAnswer", "summary", "resultNode", "1753x"]
    assert warnings == []


def test_collisions_get_suffixes_and_a_warning_each() -> None:
    nodes = [Node(f"n{i}", "input", "Input", {}) for i in range(3)]
    named, warnings = assign_names(nodes, outputs=False)
    assert [n.field for n in named] == ["input", "input2", "input3"]
    assert warnings == [
        "input field name 'input' is used by node 'n0', so node 'n1' is exposed as 'input2'; "
        "give the nodes distinct labels to choose the names",
        "input field name 'input' is used by node 'n0', so node 'n2' is exposed as 'input3'; "
        "give the nodes distinct labels to choose the names",
    ]
