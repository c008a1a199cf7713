"""A flow's contract: which request fields feed which input nodes, which output nodes fill which
response fields, and the JSON Schemas (draft 2020-12) of both.

The contract is computed once at deploy and stored with the version. Execution reads the stored
copy, so a later change to the naming or typing rules never renames the fields of an API that
clients already call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_runner.contract.examples import example_value
from clara_runner.contract.fields import assign_names
from clara_runner.flow.nodes.base import MISSING, ApiRole
from clara_runner.flow.plan import Plan, PlannedNode

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_PORT_TYPES = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
}


def value_types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    """The JSON types a field's schema allows, from its `type` (one or a list) or from an `anyOf` whose
    every branch names its types (a JSON field is `anyOf` object, array); None when it does not say."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(str(name) for name in declared)
    branches = schema.get("anyOf")
    if isinstance(branches, list) and branches and all(isinstance(branch, Mapping) for branch in branches):
        found = [value_types(branch) for branch in branches]
        if all(types is not None for types in found):
            return frozenset().union(*(types for types in found if types is not None))
    return None


@dataclass(frozen=True, slots=True)
class ContractOptions:
    """Choices the deployer makes about the API, stored with each version's contract.

    Deploy reads them from the request body (`parse_options`), and any later endpoint that makes a
    new version can accept the same fields.
    """

    allow_unknown_fields: bool = False
    """Accept (and ignore) request fields that no input node declares, instead of rejecting them."""

    def to_document(self) -> dict[str, Any]:
        return {"allowUnknownFields": self.allow_unknown_fields}

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> ContractOptions:
        return cls(allow_unknown_fields=bool((document or {}).get("allowUnknownFields", False)))

    @classmethod
    def parse(cls, body: Mapping[str, Any], problems: list[str]) -> ContractOptions:
        """The options in a deploy (or update) body; a problem is appended for each bad value."""
        allow = body.get("allowUnknownFields", False)
        if not isinstance(allow, bool):
            problems.append("allowUnknownFields must be true or false")
            allow = False
        return cls(allow_unknown_fields=allow)


@dataclass(frozen=True, slots=True)
class ApiField:
    name: str
    node_id: str
    node_type: str
    label: str
    schema: Mapping[str, Any]
    required: bool
    default: Any = MISSING

    def to_document(self) -> dict[str, Any]:
        document = {
            "name": self.name,
            "nodeId": self.node_id,
            "nodeType": self.node_type,
            "label": self.label,
            "required": self.required,
        }
        if self.default is not MISSING:
            document["default"] = self.default
        return document


@dataclass(frozen=True, slots=True)
class Contract:
    inputs: tuple[ApiField, ...]
    outputs: tuple[ApiField, ...]
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]
    metadata: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    options: ContractOptions = ContractOptions()

    def to_document(self) -> dict[str, Any]:
        """The stored form; `from_document` reads it back."""
        return {
            "inputs": [field.to_document() for field in self.inputs],
            "outputs": [field.to_document() for field in self.outputs],
            "input": self.input_schema,
            "output": self.output_schema,
            "metadata": self.metadata,
            "warnings": list(self.warnings),
            "options": self.options.to_document(),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Contract:
        input_schema = document["input"]
        output_schema = document["output"]

        def fields(key: str, schema: Mapping[str, Any]) -> tuple[ApiField, ...]:
            properties = schema.get("properties", {})
            return tuple(
                ApiField(
                    name=item["name"],
                    node_id=item["nodeId"],
                    node_type=item["nodeType"],
                    label=item["label"],
                    schema=properties.get(item["name"], {}),
                    required=item["required"],
                    default=item.get("default", MISSING),
                )
                for item in document[key]
            )

        return cls(
            inputs=fields("inputs", input_schema),
            outputs=fields("outputs", output_schema),
            input_schema=input_schema,
            output_schema=output_schema,
            metadata=document["metadata"],
            warnings=tuple(document.get("warnings", ())),
            options=ContractOptions.from_document(document.get("options")),
        )

    def public_schema(self) -> dict[str, Any]:
        """The `schema` object of the deploy and details responses."""
        return {
            "input": self.input_schema,
            "output": self.output_schema,
            "metadata": self.metadata,
            "options": self.options.to_document(),
        }


def build_contract(plan: Plan, options: ContractOptions | None = None) -> Contract:
    options = options or ContractOptions()
    input_nodes = plan.with_role(ApiRole.INPUT)
    output_nodes = plan.with_role(ApiRole.OUTPUT)
    named_inputs, input_warnings = assign_names((p.node for p in input_nodes), outputs=False)
    named_outputs, output_warnings = assign_names((p.node for p in output_nodes), outputs=True)
    conditional = _downstream_of_branches(plan)

    inputs = []
    for planned, named in zip(input_nodes, named_inputs, strict=True):
        default = planned.node_type.api_default(planned.node)
        optional = (
            default is not MISSING
            or planned.node_type.api_optional(planned.node)
            or planned.node.data.get("required") is False
        )
        schema = _field_schema(planned, named.label, planned.node_type.api_schema(planned.node), default)
        inputs.append(
            ApiField(named.field, planned.node.id, planned.node.type, named.label, schema, not optional, default)
        )

    outputs = []
    for planned, named in zip(output_nodes, named_outputs, strict=True):
        schema = planned.node_type.api_schema(planned.node) or _inferred_output_schema(plan, planned)
        schema = _field_schema(planned, named.label, schema, MISSING)
        required = planned.index not in conditional and bool(planned.in_edges)
        outputs.append(ApiField(named.field, planned.node.id, planned.node.type, named.label, schema, required))

    flow = plan.flow
    metadata = {
        "nodeCount": len(flow.nodes),
        "connectionCount": len(flow.edges),
        "hasCustomNodes": bool(flow.custom_nodes),
    }
    return Contract(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        input_schema=_object_schema(inputs, "Workflow inputs", closed=not options.allow_unknown_fields),
        output_schema=_object_schema(outputs, "Workflow outputs", closed=False),
        metadata=metadata,
        warnings=tuple(input_warnings + output_warnings),
        options=options,
    )


def _field_schema(planned: PlannedNode, label: str, base: Mapping[str, Any], default: Any) -> dict[str, Any]:
    """The node type's schema, titled with the label, described by the node's own description (else
    the type's), with the default and a valid example; a `data.sensitive` input publishes no default
    (it may be a secret), and a field of no declared type (an output fed by an untyped port) no
    example, since its value may be of any type."""
    schema: dict[str, Any] = {"title": label, **base}
    own = planned.node.data.get("description")
    kind = base.get("description") or planned.node_type.title or planned.node.type
    schema["description"] = own.strip() if isinstance(own, str) and own.strip() else f"{label}: {kind}"
    if planned.node.data.get("sensitive") is True:
        schema.update(writeOnly=True, format="password")
    elif default is not MISSING:
        schema["default"] = default
    example = example_value(schema)
    if "examples" not in schema and example is not None:
        schema["examples"] = [example]
    schema["x-node-id"] = planned.node.id
    schema["x-node-type"] = planned.node.type
    return schema


def _inferred_output_schema(plan: Plan, planned: PlannedNode) -> dict[str, Any]:
    """An `auto` output has the type of the port that feeds it, when that port declares one."""
    types = set()
    for source, source_port, _ in planned.in_edges:
        upstream = plan.nodes[source]
        ports = upstream.node_type.output_ports(upstream.node)
        data_type = next((port.data_type for port in ports if port.id == source_port), "any")
        types.add(data_type)
    if len(types) == 1:
        (data_type,) = types
        return dict(_PORT_TYPES.get(data_type, {}))
    return {}


def _object_schema(fields: list[ApiField], title: str, *, closed: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "properties": {field.name: dict(field.schema) for field in fields},
    }
    required = [field.name for field in fields if field.required]
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _downstream_of_branches(plan: Plan) -> set[int]:
    """Indices of nodes that may be skipped because a branching node sits upstream of them."""
    reached: set[int] = set()
    queue = deque(p.index for p in plan.nodes if p.node_type.branches)
    while queue:
        index = queue.popleft()
        for target, _ in plan.nodes[index].targets:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    return reached
