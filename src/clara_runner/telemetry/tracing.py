"""OpenTelemetry traces, only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: nothing of the SDK is imported
otherwise, and every hook below is then a no-op the hot path does not even call.

Spans: one per HTTP request (SERVER, continuing the caller's `traceparent`), one per run, one per node,
one per LLM call (CLIENT, with the GenAI semantic conventions: `gen_ai.operation.name`,
`gen_ai.provider.name`, request and response model, `gen_ai.usage.input_tokens` / `output_tokens`,
`gen_ai.response.finish_reasons`; the prompt and reply text only with `OTEL_CAPTURE_MESSAGE_CONTENT`),
and one per outbound HTTP request and database statement (the httpx and SQLAlchemy instrumentations),
which also carry `traceparent` to the services a run calls. Every span started while a run is known
names its execution (`clara.execution.id`), taken from the log context the request bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import structlog

from clara_runner import __version__
from clara_runner.flow.llm_calls import LlmCall
from clara_runner.security.redaction import Redactor, active_redactor

if TYPE_CHECKING:
    import httpx2
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

EXECUTION_ID = "clara.execution.id"


class Tracing:
    """The process's tracer, once `install`ed."""

    provider: TracerProvider | None = None
    tracer: Tracer | None = None
    capture_content = False


def enabled() -> bool:
    return Tracing.tracer is not None


def install(exporter: SpanExporter, service_name: str, *, capture_content: bool = False, batch: bool = True) -> None:
    """Trace this process to `exporter` (batched in the background, or span by span for tests)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    class ExecutionStamp(SpanProcessor):
        """Names the execution on every span started while one is known."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            del parent_context
            execution_id = structlog.contextvars.get_contextvars().get("execution_id")
            if execution_id is not None:
                span.set_attribute(EXECUTION_ID, execution_id)

    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "service.version": __version__}))
    provider.add_span_processor(ExecutionStamp())
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    Tracing.provider, Tracing.tracer = provider, provider.get_tracer("clara_runner", __version__)
    Tracing.capture_content = capture_content


def install_otlp(endpoint: str, service_name: str, *, capture_content: bool) -> None:
    """Export to the OTLP/HTTP collector at `endpoint` (its `/v1/traces`), unless tracing is installed already."""
    if enabled():
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    install(
        OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"), service_name, capture_content=capture_content
    )


def shutdown() -> None:
    """Export what is left and stop tracing."""
    provider = Tracing.provider
    Tracing.provider = Tracing.tracer = None
    if provider is not None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().uninstrument()
        provider.shutdown()


def traced_transport(transport: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
    """`transport` with a CLIENT span per request and `traceparent` sent along (itself when not tracing)."""
    if Tracing.provider is None:
        return transport
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransportHttpx2

    traced: httpx2.AsyncBaseTransport = AsyncOpenTelemetryTransportHttpx2(
        transport,  # type: ignore[arg-type] # (typed for httpx; it is httpx2's transport class)
        tracer_provider=Tracing.provider,
    )
    return traced


def trace_engine(engine: Any) -> None:
    """Spans for the statements of a SQLAlchemy engine (its sync engine)."""
    if Tracing.provider is not None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=Tracing.provider)


def request_span(method: str, headers: list[tuple[bytes, bytes]]) -> AbstractContextManager[Span]:
    """The SERVER span of a request, continuing the trace its `traceparent` names."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    assert Tracing.tracer is not None
    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
    return Tracing.tracer.start_as_current_span(
        method, context=propagate.extract(carrier), kind=SpanKind.SERVER, attributes={"http.request.method": method}
    )


def request_answered(span: Span, method: str, route: str, status: int) -> None:
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    execution_id = structlog.contextvars.get_contextvars().get("execution_id")
    if execution_id is not None:
        span.set_attribute(EXECUTION_ID, execution_id)
    if status >= 500:
        from opentelemetry.trace import StatusCode

        span.set_status(StatusCode.ERROR)


def run_span(slug: str, version: int) -> AbstractContextManager[Any]:
    """The span of one run (a no-op context when not tracing)."""
    if Tracing.tracer is None:
        return nullcontext()
    return Tracing.tracer.start_as_current_span(
        f"run {slug}", attributes={"clara.deployment": slug, "clara.deployment.version": version}
    )


def node_span(node_id: str, node_type: str) -> AbstractContextManager[Any]:
    """The span of one node (the engine's node observer, `RunContext.nodes`)."""
    assert Tracing.tracer is not None
    return Tracing.tracer.start_as_current_span(
        f"node {node_type}", attributes={"clara.node.id": node_id, "clara.node.type": node_type}
    )


@contextmanager
def llm_span(call: LlmCall) -> Iterator[None]:
    """A CLIENT span around one LLM call, described by the GenAI semantic conventions."""
    if Tracing.tracer is None:
        yield
        return
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": call.provider,
        "gen_ai.system": call.provider,
        "gen_ai.request.model": call.model,
        "gen_ai.request.max_tokens": call.max_tokens,
    }
    if call.temperature is not None:
        attributes["gen_ai.request.temperature"] = call.temperature
    if Tracing.capture_content:
        attributes["gen_ai.input.messages"] = _json(call.messages)
    with Tracing.tracer.start_as_current_span(
        f"chat {call.model}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield
        _replied(span, call)


def _replied(span: Span, call: LlmCall) -> None:
    for name, value in (
        ("gen_ai.response.model", call.response_model),
        ("gen_ai.usage.input_tokens", call.prompt_tokens),
        ("gen_ai.usage.output_tokens", call.completion_tokens),
    ):
        if value is not None:
            span.set_attribute(name, value)
    if call.finish_reason is not None:
        span.set_attribute("gen_ai.response.finish_reasons", [call.finish_reason])
    if Tracing.capture_content and call.content is not None:
        span.set_attribute("gen_ai.output.messages", _json([{"role": "assistant", "content": call.content}]))


def _json(messages: Any) -> str:
    """Messages as JSON text, with the secrets the run knows (and secret shapes) redacted."""
    redactor = active_redactor.get() or Redactor()
    return json.dumps(redactor.value(list(messages)), default=str, ensure_ascii=False)
