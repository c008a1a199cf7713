"""`clara-runner run FLOW.json`: run a workflow on this machine, with no server and no database.

The flow is parsed and checked exactly as deploy does (the same problems, one per line), its API
contract gives the input field names, `--input field=value` values are read by the field's schema
type and validated like an execute request, and the run gets the same context a server run gets
(service endpoints and keys from the settings, HTTP clients, the JavaScript sandbox), except that the
egress policy lets it reach loopback services: the machine is the user's own. Exit codes: 0 success,
1 a node failed or the run timed out, 2 the flow or the inputs have problems.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from clara_runner.contract.inputs import InputBinder
from clara_runner.contract.schema import ApiField, Contract, build_contract, value_types
from clara_runner.errors import InputValidationFailed
from clara_runner.flow.context import RunContext
from clara_runner.flow.errors import FlowDefinitionError, NodeFailed
from clara_runner.flow.events import NodeFinished, NodeMessage, RunEvent
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import Plan, compile_flow
from clara_runner.flow.runner import run
from clara_runner.flow.sandbox import JsSandbox
from clara_runner.runtime.outbound import outbound_http
from clara_runner.settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PROBLEMS = 2


class Problems(Exception):
    """The flow or the inputs cannot run; every problem is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Report:
    """What a local run saw: finished nodes in order, and the messages nodes sent."""

    finished: list[NodeFinished] = field(default_factory=list)
    messages: list[NodeMessage] = field(default_factory=list)

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, NodeFinished):
            self.finished.append(event)
        elif isinstance(event, NodeMessage):
            self.messages.append(event)


def load(path: Path) -> tuple[Plan, Contract]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Problems([f"cannot read {path}: {exc.strerror or exc}"]) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problems([f"{path} is not valid JSON: {exc}"]) from exc
    try:
        plan = compile_flow(parse_flow(document), default_registry())
    except FlowDefinitionError as exc:
        raise Problems(exc.problems) from exc
    return plan, build_contract(plan)


def bind(contract: Contract, pairs: Sequence[str], file_pairs: Sequence[str]) -> dict[str, Any]:
    """Input node id -> value, from `field=value` and `field=path` arguments; validated like a request."""
    fields = {api_field.name: api_field for api_field in contract.inputs}
    body: dict[str, Any] = {}
    problems: list[str] = []
    for option, items in (("--input", pairs), ("--input-file", file_pairs)):
        for item in items:
            name, separator, raw = item.partition("=")
            if not separator or not name:
                problems.append(f"{option} {item!r} must look like FIELD=VALUE")
            elif name not in fields:
                known = ", ".join(fields) or "none"
                problems.append(f"{option} {name!r}: the flow has no input field {name!r}; its inputs are: {known}")
            elif option == "--input-file":
                body[name] = _file_value(name, Path(raw), problems)
            else:
                body[name] = _typed_value(fields[name], raw, problems)
    if problems:
        raise Problems(problems)
    try:
        values, _ = InputBinder(contract).bind(body)
    except InputValidationFailed as exc:
        raise Problems(list(exc.details.get("validationErrors") or [exc.message])) from exc
    return values


def _typed_value(api_field: ApiField, raw: str, problems: list[str]) -> Any:
    types = value_types(api_field.schema)
    if types is None or "string" in types:
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        wanted = " or ".join(sorted(str(t) for t in types))
        problems.append(f"--input {api_field.name}: {raw!r} is not {wanted} (write it as JSON)")
        return raw
    return value


def _file_value(name: str, path: Path, problems: list[str]) -> str:
    try:
        return base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        problems.append(f"--input-file {name}: cannot read {path}: {exc.strerror or exc}")
        return ""


async def execute(plan: Plan, values: dict[str, Any], settings: Settings, report: Report) -> dict[str, Any]:
    """Run with the server's kind of context; outputs by node id. Raises `NodeFailed` or `TimeoutError`."""
    http = outbound_http(settings, settings.egress_policy().with_loopback())
    sandbox = JsSandbox(settings.sandbox_limits())
    context = RunContext(
        events=report,
        execution_id="local",
        services=settings.service_endpoints(),
        http=http,
        sandbox=sandbox,
        value_limits=settings.value_limits(),
    )
    try:
        async with asyncio.timeout(settings.max_execution_seconds):
            result = await run(plan, values, context)
    finally:
        await sandbox.aclose()
        await http.aclose()
    return result.outputs


def llm_base_url_line(settings: Settings) -> str:
    """Where LLM nodes without their own `apiBaseUrl` send requests, and why: a local run that fails
    against a model server the user did not mean (the OpenAI default) should say so up front."""
    origin = "set by OPENAI_API_BASE_URL" if "openai_base_url" in settings.model_fields_set else "the default"
    return f"LLM base URL: {settings.openai_base_url} ({origin}; a node's own apiBaseUrl overrides it)"


def print_table(report: Report, out: TextIO) -> None:
    rows = [("node", "type", "status", "ms")] + [
        (event.node_id, event.node_type, event.status, f"{event.duration_ms:.1f}") for event in report.finished
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)


def main(flow: Path, pairs: Sequence[str], file_pairs: Sequence[str], settings: Settings) -> int:
    """The `run` command; prints outputs as JSON on stdout, the node table and problems on stderr."""
    try:
        plan, contract = load(flow)
        values = bind(contract, pairs, file_pairs)
    except Problems as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    print(llm_base_url_line(settings), file=sys.stderr)
    report = Report()
    try:
        outputs = asyncio.run(execute(plan, values, settings, report))
    except NodeFailed as exc:
        _print_trace(report)
        print(f"error: {exc} (node id: {exc.node_id})", file=sys.stderr)
        return EXIT_FAILED
    except TimeoutError:
        _print_trace(report)
        limit = settings.max_execution_time_ms
        print(f"error: the run took longer than MAX_EXECUTION_TIME ({limit} ms) and was cancelled", file=sys.stderr)
        return EXIT_FAILED
    _print_trace(report)
    by_field = {out.name: outputs[out.node_id] for out in contract.outputs if out.node_id in outputs}
    print(json.dumps(by_field, indent=2, ensure_ascii=False))
    return EXIT_OK


def _print_trace(report: Report) -> None:
    for message in report.messages:
        print(f"[{message.node_id}] {message.kind}: {message.payload}", file=sys.stderr)
    print_table(report, sys.stderr)
