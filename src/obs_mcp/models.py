"""Typed results of every tool: what an agent reads, never raw store JSON.

Durations are milliseconds, times RFC3339 UTC strings. Every list carries `returned`,
`truncated` and a `hint` when it is empty or cut.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field


def compact_json(model: BaseModel) -> str:
    """The wire form of an answer: compact JSON without nulls (what budgets are counted in)."""
    data = model.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


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


def links_field() -> Any:
    """`links`: left out of the answer when there are none (most answers need none)."""
    return Field(
        default_factory=dict,
        exclude_if=lambda v: not v,
        description="URLs opening this view in the stack's own UIs, for a human",
    )


def partial_field() -> Any:
    """`warnings`: only there when a cluster storage node was missing from the answer."""
    return Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="partial answer: which storage node was missing",
    )


class LogsResult(Bounded):
    query: str = Field(description="the LogsQL actually run (with the service filter)")
    window: str
    rows: list[LogRow]
    links: dict[str, str] = links_field()
    warnings: list[str] = partial_field()


# ---- metrics ----------------------------------------------------------------------------------
class Series(BaseModel):
    labels: dict[str, str]
    value: float | None = Field(default=None, description="instant query: the value")
    time: str | None = Field(default=None, description="instant query: the sample time")
    values: list[tuple[str, float | None]] | None = Field(
        default=None, description="range query: [time, value] points (null: NaN/Inf)"
    )


class MetricsResult(Bounded):
    query: str
    kind: Literal["instant", "range"]
    window: str | None = None
    step_s: float | None = None
    series: list[Series]
    points_omitted: int = Field(default=0, description="range points dropped to bound the answer")
    links: dict[str, str] = links_field()


# ---- traces -----------------------------------------------------------------------------------
class TraceSummary(BaseModel):
    trace_id: str
    root_service: str | None = None
    root_operation: str | None = None
    start_time: str
    duration_ms: float
    span_count: int
    error_count: int
    services: list[str]


class TracesResult(Bounded):
    window: str
    traces: list[TraceSummary]
    links: dict[str, str] = links_field()
    warnings: list[str] = partial_field()


class SpanLog(BaseModel):
    time: str
    severity: str | None = None
    message: str
    service: str | None = None
    span_id: str | None = None


class RepeatSummary(BaseModel):
    count: int = Field(description="siblings of one service + operation shown as this one row")
    total_ms: float
    min_ms: float
    max_ms: float


class SpanNode(BaseModel):
    span_id: str
    parent_span_id: str | None = None
    depth: int
    service: str | None = None
    operation: str
    kind: str
    start_offset_ms: float
    duration_ms: float
    self_ms: float = Field(default=0.0, description="duration minus the time its children cover")
    critical: bool = Field(
        default=False, exclude_if=lambda v: not v, description="on the critical path"
    )
    status: Literal["ok", "error"]
    status_message: str | None = None
    repeat: RepeatSummary | None = None
    # Left out of the answer when empty: most spans of a big trace have neither.
    attributes: dict[str, str] = Field(default_factory=dict, exclude_if=lambda v: not v)
    logs: list[SpanLog] = Field(default_factory=list, exclude_if=lambda v: not v)


class OmittedSpans(BaseModel):
    service: str
    operation: str
    count: int
    errors: int = Field(default=0, exclude_if=lambda v: not v)
    total_ms: float


class SlowSpan(BaseModel):
    span_id: str
    service: str
    operation: str
    self_ms: float
    critical: bool = Field(default=False, exclude_if=lambda v: not v)


class RepeatedCall(BaseModel):
    service: str
    operation: str
    parent_span_id: str
    count: int
    total_ms: float
    min_ms: float
    max_ms: float


class LatencySummary(BaseModel):
    top_self_time: list[SlowSpan]
    repeated: list[RepeatedCall] = Field(default_factory=list, exclude_if=lambda v: not v)


class RedSnapshot(BaseModel):
    service: str
    window: str
    requests: int = Field(description="entry server/consumer spans in the window")
    rate_per_s: float
    errors: int
    error_ratio: float
    p95_ms: float | None = None
    percentiles_exact: bool = Field(default=True, exclude_if=lambda v: v)


class CorrelatedTrace(BaseModel):
    trace_id: str
    found: bool
    hint: str | None = None
    start_time: str | None = None
    duration_ms: float | None = None
    services: list[str] = Field(default_factory=list)
    span_count: int = 0
    error_count: int = 0
    budget_tokens: int = Field(default=0, description="the answer never exceeds this (chars/4)")
    latency: LatencySummary | None = None
    spans: list[SpanNode] = Field(default_factory=list)
    spans_returned: int = 0
    spans_omitted: int = Field(default=0, description="spans left out (never the root or errors)")
    omitted: list[OmittedSpans] = Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="what the left-out spans were, by service + operation",
    )
    orphan_logs: list[SpanLog] = Field(
        default_factory=list, description="logs of this trace whose span is not shown"
    )
    log_count: int = 0
    logs_returned: int = 0
    logs_omitted: int = 0
    red: list[RedSnapshot] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    links: dict[str, str] = links_field()


# ---- error rate -------------------------------------------------------------------------------
class OperationRate(BaseModel):
    operation: str
    total: int
    errors: int
    error_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class ErrorRateResult(BaseModel):
    service: str
    window: str
    source: str = Field(description="where the figures came from")
    total: int
    errors: int
    error_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    percentiles_exact: bool = Field(
        default=True, description="false: estimates, the reason and method in percentiles_note"
    )
    percentiles_note: str | None = None
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


# ---- error signatures (top_errors) --------------------------------------------------------------
class EchoSignature(BaseModel):
    service: str
    operation: str
    exception_type: str | None = None
    message: str
    count: int = Field(description="error spans that only propagated the origin's error")


class ErrorSignature(BaseModel):
    service: str
    operation: str
    exception_type: str | None = None
    message: str = Field(description="template: ids, numbers, quoted text masked")
    example: str | None = Field(default=None, description="one raw message of this signature")
    count: int = Field(description="error spans where the error started (the origin)")
    first_seen: str
    last_seen: str
    sample_trace_id: str
    sample_log: str | None = Field(default=None, description="an ERROR log of the sample trace")
    code_location: str | None = Field(default=None, description="file:line in function")
    seen_upstream_as: list[EchoSignature] = Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="callers' errors that only propagate this one (5xx, framework spans)",
    )
    seen_upstream_omitted: int = Field(default=0, exclude_if=lambda v: not v)


class TopErrorsResult(Bounded):
    window: str
    error_spans: int = Field(description="error spans grouped")
    error_spans_capped: bool
    signatures: list[ErrorSignature]
    warnings: list[str] = Field(default_factory=list)


# ---- compare_runs -------------------------------------------------------------------------------
class SideStats(BaseModel):
    requests: int
    errors: int
    error_rate: float
    per_s: float | None = Field(default=None, description="throughput, requests/s")
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class OperationCompare(BaseModel):
    operation: str
    baseline: SideStats
    current: SideStats


class SignatureChange(BaseModel):
    signature: str = Field(description="operation | exception type: message template")
    baseline: int
    current: int


class SpanChange(BaseModel):
    service: str
    operation: str
    calls_per_request: tuple[float, float] = Field(description="baseline, current")
    self_ms_per_request: tuple[float, float] = Field(description="baseline, current")
    summary: str


class CompareResult(BaseModel):
    service: str
    verdict: Literal["improved", "regressed", "mixed", "unchanged", "insufficient_data"]
    reasons: list[str] = Field(description="each significant change, or why none is")
    thresholds: str
    baseline_window: str
    current_window: str
    baseline: SideStats
    current: SideStats
    error_rate_change: float = Field(description="current - baseline (absolute)")
    error_rate_z: float | None = Field(default=None, description="two-proportion z statistic")
    p95_change_pct: float | None = None
    percentiles_exact: bool = True
    percentiles_note: str | None = None
    operations: list[OperationCompare]
    new_errors: list[SignatureChange]
    gone_errors: list[SignatureChange]
    changed_errors: list[SignatureChange]
    p95_moved: list[str] = Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="operations whose p95 changed past the thresholds",
    )
    span_changes: list[SpanChange] = Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="inside a request: spans whose calls or self time changed (sampled)",
    )
    span_changes_basis: str | None = None
    hint: str | None = None


# ---- service_overview ---------------------------------------------------------------------------
class OperationRed(BaseModel):
    operation: str
    requests: int
    per_s: float
    errors: int
    error_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None


class Neighbor(BaseModel):
    service: str
    calls: int = Field(description="parent->child span pairs across the two services (exact)")
    errors: int = Field(description="calls whose callee (child) span failed")


class RepeatedCalls(BaseModel):
    operation: str = Field(description="the parent span (handler) that repeats the call")
    call: str = Field(description="the outgoing CLIENT/PRODUCER span name repeated")
    parents: int = Field(description="parent spans that made it >= 3 times")
    calls_min: int
    calls_mean: float
    calls_max: int
    calls: int = Field(description="all those calls together")


class ServiceOverview(BaseModel):
    service: str
    window: str
    red: RedSnapshot
    operations: list[OperationRed]
    top_errors: list[ErrorSignature]
    error_logs: list[LogRow] = Field(description="newest ERROR logs")
    downstream: list[Neighbor] = Field(description="services it calls")
    upstream: list[Neighbor] = Field(description="services calling it")
    repeated_calls: list[RepeatedCalls] = Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="N+1: the same outgoing call made >= 3 times under one parent span",
    )
    metric_names: list[str] = Field(description="for query_metrics, label service_name")
    hint: str | None = None
    warnings: list[str] = Field(default_factory=list)


# ---- stack_health -------------------------------------------------------------------------------
class CollectorHealth(BaseModel):
    url: str
    up: bool
    accepted: dict[str, int] = Field(description="receiver, per signal")
    refused: dict[str, int]
    sent: dict[str, int] = Field(description="exporters, per signal")
    send_failed: dict[str, int]
    queue_size: int | None = None


class StoreHealth(BaseModel):
    store: str
    url: str
    up: bool
    newest: str | None = Field(default=None, description="newest item in the last 24h")
    newest_for_service: str | None = None


class StackHealth(BaseModel):
    ok: bool
    collector: CollectorHealth
    stores: list[StoreHealth]
    service: str | None = None
    service_found: bool | None = None
    hints: list[str]


# ---- request_series (time series for the terminal view, the report and dashboards) -------------
class SeriesPoint(BaseModel):
    time: str = Field(description="bucket start, RFC3339 (requests are placed by their end time)")
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    exact: bool = Field(default=True, description="false: percentiles are bucket-edge estimates")


class OperationSeries(BaseModel):
    operation: str
    requests: int
    errors: int
    points: list[SeriesPoint]


class RequestSeries(BaseModel):
    service: str
    window: str
    step_s: int = Field(description="bucket width, seconds")
    source: str
    points: list[SeriesPoint] = Field(description="every bucket of the window, empty ones too")
    operations: list[OperationSeries] = Field(default_factory=list)
    operations_total: int = 0
    percentiles_exact: bool = True
    percentiles_note: str | None = None
    hint: str | None = None


class DurationBucket(BaseModel):
    index: int = Field(description="the percentile engine's log bucket: floor(ln(ns + 1) * 20)")
    low_ms: float
    high_ms: float = Field(description="exclusive")
    count: int = Field(description="requests in the bucket (exact)")


class SlowRequest(BaseModel):
    trace_id: str
    operation: str
    duration_ms: float
    end_time: str


# ---- list_fields --------------------------------------------------------------------------------
class FieldInfo(BaseModel):
    key: str = Field(description="as search_traces(tags=) / LogsQL take it")
    hits: int = Field(description="rows that carry the key")
    distinct: int
    distinct_capped: bool = Field(
        default=False, exclude_if=lambda v: not v, description="more than `distinct` values"
    )
    values: dict[str, int] = Field(
        default_factory=dict, exclude_if=lambda v: not v, description="top values: rows each"
    )
    values_omitted: int = Field(default=0, exclude_if=lambda v: not v)


class FieldSet(BaseModel):
    rows: int = Field(description="spans / log lines of the service in the window")
    keys: list[FieldInfo] = Field(description="most rows first")
    keys_omitted: int = Field(default=0, exclude_if=lambda v: not v)


class FieldsResult(BaseModel):
    service: str
    window: str
    spans: FieldSet | None = None
    logs: FieldSet | None = None
    hint: str | None = None
    warnings: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)


# ---- wait_for_data ------------------------------------------------------------------------------
class WaitResult(BaseModel):
    arrived: bool = Field(description="the asked counts were reached before the timeout")
    since: str = Field(description="counted from here")
    waited_s: float
    requests: int = Field(description="new requests (entry spans, as in error_rate)")
    newest_request: str | None = None
    logs: int = Field(description="new log lines")
    newest_log: str | None = None
    hint: str | None = None
    health: StackHealth | None = Field(default=None, description="on timeout: where data stops")
    warnings: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)


# ---- agent sessions ---------------------------------------------------------------------------
class ToolUse(BaseModel):
    tool: str
    calls: int = Field(description="tool_result events: the tool ran")
    failed: int = Field(default=0, description="results with success=false")
    accepted: int = Field(default=0, description="tool_decision events that let it run")
    rejected: int = Field(default=0, description="tool_decision events that refused it")


class McpUse(BaseModel):
    server: str
    tool: str
    calls: int
    failed: int = 0


class ChildService(BaseModel):
    service: str = Field(description="a process that continued the session's trace")
    traces: int
    spans: int
    errors: int = 0


class TimelineNode(BaseModel):
    depth: int
    time: str
    kind: Literal["prompt", "api_call", "tool_call", "step", "child", "event"]
    name: str
    service: str | None = None
    duration_ms: float | None = None
    status: Literal["ok", "error"] | None = None
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict, exclude_if=lambda v: not v)


class AgentSession(BaseModel):
    session_id: str
    client: str
    service: str
    models: list[str] = Field(default_factory=list)
    start: str
    end: str
    duration_s: float
    prompts: int
    api_calls: int
    api_errors: int
    tokens: dict[str, int] = Field(description="model-call tokens by type (exact event sums)")
    cost_usd: float | None = None
    active_s: float | None = Field(default=None, description="active time metric (PromQL)")
    subagents: int | None = Field(
        default=None,
        description="sub-agents it started, nested ones too (their api/tool calls "
        "are in this session's figures)",
    )
    tool_calls: list[ToolUse] = Field(default_factory=list)
    mcp_calls: list[McpUse] = Field(default_factory=list, exclude_if=lambda v: not v)
    traces: int = Field(default=0, description="trace ids its events name")
    trace_ids: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)
    children: list[ChildService] | None = Field(
        default=None, description="other services' spans in its traces; null: not knowable"
    )
    timeline: list[TimelineNode] = Field(default_factory=list, exclude_if=lambda v: not v)
    timeline_omitted: int = Field(default=0, exclude_if=lambda v: not v)
    notes: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)


class AgentSessionsResult(Bounded):
    window: str
    total_sessions: int = Field(description="sessions in the window (exact)")
    sessions: list[AgentSession]
    source: str
