"""A loopback OTLP/HTTP trace receiver: `POST /v1/traces` with an `ExportTraceServiceRequest` protobuf (as
OpenTelemetry collectors accept it), decoded and kept, so tests read the spans a server exported."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    attributes: dict[str, Any]


class OtlpReceiver(LoopbackServer):
    def __init__(self) -> None:
        super().__init__([Route("/v1/traces", self._traces, methods=["POST"])])
        self.exports: list[ExportTraceServiceRequest] = []

    async def _traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.exports.append(ExportTraceServiceRequest.FromString(body))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    def spans(self) -> list[ReceivedSpan]:
        received = []
        for export in self.exports:
            for resource_spans in export.resource_spans:
                resource = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {item.key: _value(item.value) for item in span.attributes}
                        received.append(
                            ReceivedSpan(resource["service.name"], span.name, span.trace_id.hex(), attributes)
                        )
        return received


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None
