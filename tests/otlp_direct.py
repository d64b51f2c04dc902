"""OTLP protobuf built by hand and POSTed to the collector: exact nanosecond times, any span
kind, status left UNSET, attributes of any instrumentation, thousands of spans per request.

The SDK cannot produce some of these shapes (two server spans of one request from two
instrumentations, status UNSET on a 5xx); real apps do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

SERVER, CLIENT, INTERNAL, CONSUMER = (
    Span.SPAN_KIND_SERVER,
    Span.SPAN_KIND_CLIENT,
    Span.SPAN_KIND_INTERNAL,
    Span.SPAN_KIND_CONSUMER,
)
UNSET, OK, ERROR = Status.STATUS_CODE_UNSET, Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR
BATCH = 2000
SCOPE = "obs-mcp-tests.direct"


def new_id(size: int) -> bytes:
    return os.urandom(size)


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


@dataclass
class SpanSpec:
    service: str
    name: str
    trace_id: bytes
    start: int  # unix ns
    end: int
    kind: int = INTERNAL
    parent: bytes = b""
    span_id: bytes = field(default_factory=lambda: new_id(8))
    status: int = UNSET
    status_message: str = ""
    attributes: dict[str, str | int] = field(default_factory=dict)
    exception: tuple[str, str, str] | None = None  # type, message, stacktrace

    @property
    def hex_id(self) -> str:
        return self.span_id.hex()

    @property
    def duration(self) -> int:
        return self.end - self.start


@dataclass
class LogSpec:
    service: str
    time: int  # unix ns
    body: str
    severity: str = "INFO"
    trace_id: bytes = b""
    span_id: bytes = b""
    attributes: dict[str, str | int] = field(default_factory=dict)


_SEVERITY = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}


def _span(spec: SpanSpec) -> Span:
    span = Span(
        trace_id=spec.trace_id,
        span_id=spec.span_id,
        parent_span_id=spec.parent,
        name=spec.name,
        kind=spec.kind,  # type: ignore[arg-type]
        start_time_unix_nano=spec.start,
        end_time_unix_nano=spec.end,
        attributes=[_kv(k, v) for k, v in spec.attributes.items()],
        status=Status(code=spec.status, message=spec.status_message),  # type: ignore[arg-type]
    )
    if spec.exception:
        kind, message, stack = spec.exception
        event = span.events.add()
        event.name = "exception"
        event.time_unix_nano = spec.end
        event.attributes.extend([
            _kv("exception.type", kind),
            _kv("exception.message", message),
            _kv("exception.stacktrace", stack),
        ])  # fmt: skip
    return span


def _post(url: str, body: bytes) -> None:
    response = httpx2.post(
        url, content=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60
    )
    assert response.status_code == 200, (url, response.status_code, response.text[:300])


def _resource(service: str, extra: dict[str, str] | None = None) -> Resource:
    attrs = {"service.name": service, **(extra or {})}
    return Resource(attributes=[_kv(k, v) for k, v in attrs.items()])


def send_spans(
    otlp_http_url: str, specs: list[SpanSpec], resource: dict[str, str] | None = None
) -> None:
    """POST in batches of BATCH spans, one ResourceSpans per service (+ `resource` attrs)."""
    for offset in range(0, len(specs), BATCH):
        request = ExportTraceServiceRequest()
        scopes: dict[str, ScopeSpans] = {}
        for spec in specs[offset : offset + BATCH]:
            if spec.service not in scopes:
                request.resource_spans.append(
                    ResourceSpans(resource=_resource(spec.service, resource))
                )
                scope = request.resource_spans[-1].scope_spans.add()
                scope.scope.name = SCOPE
                scopes[spec.service] = scope
            scopes[spec.service].spans.append(_span(spec))
        _post(f"{otlp_http_url}/v1/traces", request.SerializeToString())


def _record(spec: LogSpec) -> LogRecord:
    return LogRecord(
        time_unix_nano=spec.time,
        observed_time_unix_nano=spec.time,
        severity_text=spec.severity,
        severity_number=_SEVERITY[spec.severity],  # type: ignore[arg-type]
        body=AnyValue(string_value=spec.body),
        trace_id=spec.trace_id,
        span_id=spec.span_id,
        attributes=[_kv(k, v) for k, v in spec.attributes.items()],
    )


def send_logs(otlp_http_url: str, specs: list[LogSpec]) -> None:
    """POST in batches of BATCH records, one ResourceLogs per service."""
    for offset in range(0, len(specs), BATCH):
        request = ExportLogsServiceRequest()
        scopes: dict[str, ScopeLogs] = {}
        for spec in specs[offset : offset + BATCH]:
            if spec.service not in scopes:
                request.resource_logs.append(ResourceLogs(resource=_resource(spec.service)))
                scope = request.resource_logs[-1].scope_logs.add()
                scope.scope.name = SCOPE
                scopes[spec.service] = scope
            scopes[spec.service].log_records.append(_record(spec))
        _post(f"{otlp_http_url}/v1/logs", request.SerializeToString())
