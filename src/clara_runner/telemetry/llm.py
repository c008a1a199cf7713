"""The server's watcher of LLM calls (`flow/llm_calls.py`): each call counted, timed and its tokens
summed in the metrics, and priced for its run (`spending.py`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from clara_runner.flow.llm_calls import LlmCall
from clara_runner.telemetry import metrics, spending, tracing


@contextmanager
def observe_llm_call(call: LlmCall) -> Iterator[None]:
    started = time.perf_counter()
    ok = False
    try:
        with tracing.llm_span(call):
            yield
        ok = True
    finally:
        metrics.llm_call(
            call.provider, call.model, time.perf_counter() - started, call.prompt_tokens, call.completion_tokens, ok
        )
        spending.charge((call.response_model, call.model), call.prompt_tokens, call.completion_tokens)
