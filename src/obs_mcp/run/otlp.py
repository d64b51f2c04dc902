"""Ship the command's lines (and the run's own span) to the collector as OTLP/HTTP protobuf.

A background thread sends a batch every BATCH_S or BATCH_MAX records, so lines are
searchable about a second after they are printed, whatever the app does. Bounded: past
MAX_PENDING unsent records new ones are dropped and counted; every failure is counted with
its last error, for the run's closing lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from obs_mcp.run.lines import AttrValue, Line

BATCH_S = 0.2
BATCH_MAX = 512
MAX_PENDING = 20_000
RETRIES = (0.2, 0.5, 1.0)
SCOPE = InstrumentationScope(name="obs-mcp.run")


def kv(key: str, value: AttrValue) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def log_record(line: Line, when_ns: int) -> LogRecord:
    attrs = [kv("log.iostream", line.stream)] if line.stream else []
    attrs += [kv(k, v) for k, v in line.attributes.items()]
    return LogRecord(
        time_unix_nano=when_ns,
        observed_time_unix_nano=when_ns,
        severity_number=line.severity_number,  # type: ignore[arg-type]
        severity_text=line.severity_text,
        body=AnyValue(string_value=line.body),
        attributes=attrs,
        trace_id=bytes.fromhex(line.trace_id) if line.trace_id else b"",
        span_id=bytes.fromhex(line.span_id) if line.span_id else b"",
    )


@dataclass
class RunSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, AttrValue]


class Shipper:
    def __init__(self, endpoint: str, resource: Mapping[str, AttrValue]) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.resource = Resource(attributes=[kv(k, v) for k, v in resource.items()])
        self.sent = self.failed = self.dropped = 0
        self.last_error = ""
        self._pending: list[LogRecord] = []
        self._cond = threading.Condition()
        self._closing = False
        self._http = httpx2.Client(timeout=5.0)
        self._thread = threading.Thread(target=self._loop, name="obs-mcp-run-ship", daemon=True)
        self._thread.start()

    def add(self, line: Line, when_ns: int | None = None) -> None:
        record = log_record(line, when_ns or time.time_ns())
        with self._cond:
            if len(self._pending) >= MAX_PENDING:
                self.dropped += 1
                return
            self._pending.append(record)
            if len(self._pending) >= BATCH_MAX:
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._closing and len(self._pending) < BATCH_MAX:
                    self._cond.wait(BATCH_S)
                batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
                done = self._closing and not batch and not self._pending
            if batch:
                self._send_logs(batch)
            if done:
                return

    def _post(self, path: str, body: bytes) -> bool:
        for pause in (*RETRIES, None):
            try:
                reply = self._http.post(
                    self.endpoint + path,
                    content=body,
                    headers={"Content-Type": "application/x-protobuf"},
                )
                if reply.status_code < 300:
                    return True
                self.last_error = f"HTTP {reply.status_code}: {reply.text[:200]}"
                if reply.status_code < 500 and reply.status_code != 429:
                    return False  # refused: retrying sends the same refusal
            except httpx2.HTTPError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            if pause is None:
                return False
            time.sleep(pause)
        return False

    def _send_logs(self, batch: list[LogRecord]) -> None:
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=self.resource,
                    scope_logs=[ScopeLogs(scope=SCOPE, log_records=batch)],
                )
            ]
        )
        if self._post("/v1/logs", request.SerializeToString()):
            self.sent += len(batch)
        else:
            self.failed += len(batch)

    def send_span(self, span: RunSpan) -> bool:
        proto = Span(
            trace_id=bytes.fromhex(span.trace_id),
            span_id=bytes.fromhex(span.span_id),
            parent_span_id=bytes.fromhex(span.parent_span_id) if span.parent_span_id else b"",
            name=span.name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=span.start_ns,
            end_time_unix_nano=span.end_ns,
            attributes=[kv(k, v) for k, v in span.attributes.items()],
        )
        request = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=self.resource, scope_spans=[ScopeSpans(scope=SCOPE, spans=[proto])]
                )
            ]
        )
        return self._post("/v1/traces", request.SerializeToString())

    def close(self, timeout: float = 10.0) -> None:
        """Send what is pending (bounded by `timeout`), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        with self._cond:
            self.dropped += len(self._pending)
            self._pending = []
        self._http.close()
