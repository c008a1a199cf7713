"""Cost of the per-execution safeguards (redaction of inputs, outputs and trace; output size check).

Figure: one `RunGuard` life (begin, inputs, outputs, trace, close) for a typical small execution of a
workflow that carries an API key in its node data: redaction of all three and their encoding. Floor:
encoding the same outputs to JSON once with orjson, which the response needs anyway.
Run: `.venv-test/bin/python bench/bench_safeguards.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from clara_runner.contract.schema import build_contract
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.security.redaction import Redactor
from clara_runner.service.execution.safeguards import Safeguards

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

    def guarded() -> object:
        guard = safeguards.begin()
        inputs = guard.inputs(plan, contract.inputs, INPUTS)
        outputs = guard.outputs(OUTPUTS)
        trace = guard.stored_trace(TRACE)
        guard.close()
        return inputs, outputs, trace

    def floor() -> object:
        return orjson.dumps(OUTPUTS)

    figure = best_of(5, 2000, guarded)
    base = best_of(5, 2000, floor)
    print(f"safeguards per execution: {figure:.1f} us")
    print(f"floor (serialise the outputs once): {base:.1f} us")
    print(f"ratio: {figure / base:.1f}x")


if __name__ == "__main__":
    main()
