from __future__ import annotations

from clara_runner.contract.fields import assign_names
from clara_runner.flow.model import Node


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
