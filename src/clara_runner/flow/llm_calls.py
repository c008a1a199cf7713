"""What an LLM call tells whoever watches the run: provider, model, token counts and finish reason
(and the node observer, which sees each node run).

The engine knows nothing of metrics or tracing; a server that wants them puts an `LlmObserver` on the
run's context (`RunContext.llm_calls`). Each chat call is made inside `observer(call)`, a context manager
that sees the call start, fail (an exception leaves it) or end (the reply filled in on `call`), so it can
time it, count it and wrap it in a span the call's own HTTP requests nest under.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class LlmCall:
    provider: str
    """The API's protocol family: `openai` (any OpenAI-compatible API) or `anthropic`."""
    model: str
    """The model the node asked for."""
    max_tokens: int
    temperature: float | None
    response_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    messages: Sequence[Mapping[str, Any]] = ()
    """The prompt, for an observer told to record it (tracing with message content)."""
    content: str | None = None
    """The reply's text."""


LlmObserver = Callable[[LlmCall], AbstractContextManager[object]]
NodeObserver = Callable[[str, str], AbstractContextManager[object]]
"""Called with a node's id and type; the node runs inside the context it returns."""
