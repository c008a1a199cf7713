"""OutputChecker: how outputs that break the published output schema are described."""

from __future__ import annotations

from typing import Any

from clara_runner.contract.output_check import MAX_REPORTED, OutputChecker
from clara_runner.contract.schema import ApiField, Contract


def _contract(properties: dict[str, Any], required: list[str]) -> Contract:
    outputs = tuple(
        ApiField(name, f"node-{name}", "output", name, schema, name in required) for name, schema in properties.items()
    )
    output_schema = {"type": "object", "properties": properties, "required": required}
    return Contract((), outputs, {"type": "object"}, output_schema, {})


def test_matching_outputs_leave_no_trace() -> None:
    checker = OutputChecker(_contract({"result": {"type": "object"}}, ["result"]))
    assert checker.check({"result": {"a": 1}}) is None


def test_a_mismatch_names_the_field_its_node_and_the_problem() -> None:
    checker = OutputChecker(_contract({"result": {"type": "object"}, "count": {"type": "number"}}, ["count"]))
    entry = checker.check({"result": [1, 2]})
    assert entry is not None
    assert (entry["type"], entry["status"], entry["errorCount"]) == ("output-check", "mismatch", 2)
    by_path = {problem["path"]: problem for problem in entry["errors"]}
    assert by_path["/result"]["nodeId"] == "node-result"
    assert by_path["/result"]["field"] == "result"
    assert "object" in by_path["/result"]["message"]
    assert by_path["/count"]["nodeId"] == "node-count"
    assert "count" in by_path["/count"]["message"]


def test_many_problems_are_counted_but_only_the_first_ones_kept() -> None:
    names = [f"out{index}" for index in range(MAX_REPORTED + 5)]
    checker = OutputChecker(_contract({name: {"type": "number"} for name in names}, names))
    entry = checker.check({})
    assert entry is not None
    assert entry["errorCount"] == MAX_REPORTED + 5
    assert len(entry["errors"]) == MAX_REPORTED


def test_a_huge_value_is_not_copied_into_the_trace() -> None:
    checker = OutputChecker(_contract({"count": {"type": "number"}}, []))
    entry = checker.check({"count": "x" * 10_000})
    assert entry is not None
    (problem,) = entry["errors"]
    assert len(problem["message"]) <= 300
    assert problem["message"].endswith("...")
