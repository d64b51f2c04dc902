"""Typed results of every tool: what an agent reads, never raw store JSON.

Durations are milliseconds, times RFC3339 UTC strings. Every list carries `returned`,
`truncated` and a `hint` when it is empty or cut.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Bounded(BaseModel):
    returned: int = Field(description="items in this answer")
    truncated: bool = Field(description="true when more matched than were returned")
    hint: str | None = Field(default=None, description="how to widen or narrow the question")


# ---- logs -------------------------------------------------------------------------------------
class LogRow(BaseModel):
    time: str
    service: str | None = None
    severity: str | None = None
    message: str
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)


class LogsResult(Bounded):
    query: str = Field(description="the LogsQL actually run (with the service filter)")
    window: str
    rows: list[LogRow]


# ---- metrics ----------------------------------------------------------------------------------
class Series(BaseModel):
    labels: dict[str, str]
    value: float | None = Field(default=None, description="instant query: the value")
    time: str | None = Field(default=None, description="instant query: the sample time")
    values: list[tuple[str, float]] | None = Field(
        default=None, description="range query: [time, value] points"
    )


class MetricsResult(Bounded):
    query: str
    kind: Literal["instant", "range"]
    window: str | None = None
    step_s: float | None = None
    series: list[Series]
    points_omitted: int = Field(default=0, description="range points dropped to bound the answer")


# ---- traces -----------------------------------------------------------------------------------
class TraceSummary(BaseModel):
    trace_id: str
    root_service: str | None
    root_operation: str | None
    start_time: str
    duration_ms: float
    span_count: int
    error_count: int
    services: list[str]


class TracesResult(Bounded):
    window: str
    traces: list[TraceSummary]


class SpanLog(BaseModel):
    time: str
    severity: str | None = None
    message: str
    service: str | None = None
    span_id: str | None = None


class SpanNode(BaseModel):
    span_id: str
    parent_span_id: str | None
    depth: int
    service: str | None
    operation: str
    kind: str
    start_offset_ms: float
    duration_ms: float
    status: Literal["ok", "error"]
    status_message: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    logs: list[SpanLog] = Field(default_factory=list)


class RedSnapshot(BaseModel):
    service: str
    window: str
    requests: int = Field(description="server/consumer spans in the window")
    rate_per_s: float
    errors: int
    error_ratio: float
    p95_ms: float | None


class CorrelatedTrace(BaseModel):
    trace_id: str
    found: bool
    hint: str | None = None
    start_time: str | None = None
    duration_ms: float | None = None
    services: list[str] = Field(default_factory=list)
    span_count: int = 0
    error_count: int = 0
    spans: list[SpanNode] = Field(default_factory=list)
    spans_returned: int = 0
    spans_omitted: int = Field(default=0, description="spans left out (never the root or errors)")
    orphan_logs: list[SpanLog] = Field(
        default_factory=list, description="logs of this trace whose span is not shown"
    )
    log_count: int = 0
    logs_returned: int = 0
    logs_omitted: int = 0
    red: list[RedSnapshot] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


# ---- error rate -------------------------------------------------------------------------------
class OperationRate(BaseModel):
    operation: str
    total: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class ErrorRateResult(BaseModel):
    service: str
    window: str
    source: str = Field(description="where the figures came from")
    total: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    operations: list[OperationRate]
    operations_returned: int
    operations_truncated: bool
    hint: str | None = None


# ---- services ---------------------------------------------------------------------------------
class ServiceSeen(BaseModel):
    service: str
    spans: int | None = None
    newest_span: str | None = None
    logs: int | None = None
    newest_log: str | None = None
    metric_series: bool = False
    newest_metric: str | None = None


class ServicesResult(Bounded):
    window: str
    services: list[ServiceSeen]
    warnings: list[str] = Field(default_factory=list)
