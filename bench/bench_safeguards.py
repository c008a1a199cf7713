"""Cost of the per-execution safeguards (redaction of inputs, outputs and trace; output size check).

Figure: one `RunGuard` life (begin, inputs, outputs, finish) for a typical small execution of a
workflow that carries an API key in its node data. Floor: serialising the same outputs to JSON once,
which the response does anyway. Run: `.venv/bin/python bench/bench_safeguards.py`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from clara_runner.clock import utcnow
from clara_runner.contract.schema import build_contract
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.security.redaction import Redactor
from clara_runner.service.safeguards import Safeguards
from clara_runner.store.records import ExecutionRecord

WORKFLOW = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Question"}},
        {"id": "s", "type": "static-text", "data": {"text": "Be brief.", "apiKey": "sk-workflow-key-0123456789abcdef"}},
        {"id": "c", "type": "combine-text", "data": {}},
        {"id": "out", "type": "output", "data": {"outputLabel": "Answer"}},
    ],
    "connections": [
        {"source": "in", "target": "c", "targetHandle": "text1"},
        {"source": "s", "target": "c", "targetHandle": "text2"},
        {"source": "c", "target": "out"},
    ],
}
INPUTS = {"question": "What is the capital of France? " * 4}
OUTPUTS = {"answer": "Paris is the capital of France. " * 8}
TRACE = [{"nodeId": f"n{i}", "type": "t", "status": "success", "startedAt": 0.0, "durationMs": 1.0} for i in range(4)]


def best_of(repeats: int, loops: int, action: Callable[[], object]) -> float:
    """Microseconds per call, best of `repeats` runs of `loops` calls."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(loops):
            action()
        best = min(best, (time.perf_counter() - started) / loops)
    return best * 1e6


def main() -> None:
    plan = compile_flow(parse_flow(WORKFLOW), default_registry())
    contract = build_contract(plan)
    safeguards = Safeguards(Redactor(["sk-server-key-0123456789abcdef"]))
    row = ExecutionRecord(
        id=uuid.uuid4(),
        deployment_id=uuid.uuid4(),
        version=1,
        api_key_id=None,
        status="success",
        inputs=None,
        outputs=None,
        error_code=None,
        error_message=None,
        duration_ms=3,
        nodes_executed=4,
        trace=TRACE,
        created_at=utcnow(),
        finished_at=utcnow(),
    )

    def guarded() -> object:
        guard = safeguards.begin()
        inputs = guard.inputs(plan, contract.inputs, INPUTS)
        outputs = guard.outputs(OUTPUTS)
        return guard.finish(row), inputs, outputs

    def floor() -> object:
        return json.dumps(OUTPUTS, ensure_ascii=False, separators=(",", ":")).encode()

    figure = best_of(5, 2000, guarded)
    base = best_of(5, 2000, floor)
    print(f"safeguards per execution: {figure:.1f} us")
    print(f"floor (serialise the outputs once): {base:.1f} us")
    print(f"ratio: {figure / base:.1f}x")


if __name__ == "__main__":
    main()
