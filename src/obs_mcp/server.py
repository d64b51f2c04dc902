"""The MCP server: thin typed tools over the query core (names, descriptions, schemas, hints).

`mcp run src/obs_mcp/server.py` and `mcp dev` find the module-level `mcp`. Start-up is paid
by every agent session: tools/list needs only the result models (for the output schemas), so
each tool imports its query module on its first call, and the store clients are made then.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from obs_mcp import guides
from obs_mcp.config import Settings
from obs_mcp.core.backends import Backends, LazyBackends
from obs_mcp.errors import InvalidArgument, ObsError
from obs_mcp.models import (
    AgentSessionsResult,
    CompareResult,
    CorrelatedTrace,
    ErrorRateResult,
    FieldsResult,
    LogsResult,
    MetricsResult,
    ServiceOverview,
    ServicesResult,
    StackHealth,
    TopErrorsResult,
    TracesResult,
    WaitResult,
    compact_json,
)
from obs_mcp.schema_slim import slim_tool_schemas

log = logging.getLogger("obs_mcp.server")

INSTRUCTIONS = """\
Telemetry of the apps on this machine (OTel -> VictoriaLogs/Metrics/Traces). Work in numbers:
1. list_services: exact service names and whether data is arriving.
2. error_rate(service): exact error rate and p50/p95/p99 from ALL server spans, per operation.
3. search_traces(service, errors_only=True): failing trace ids.
4. correlate_trace(trace_id): span tree + the logs of each span + RED of each service, in one call.
5. Fix the code, re-run the workload, wait_for_data(service, start=<run start>) until it has
   landed, then compare_runs(service, baseline window or run id) and report its verdict and
   before -> after figures, e.g. "error rate 18.7% -> 0%".
service_overview / top_errors summarise a service; stack_health explains missing data;
list_fields names the span/log attribute keys that exist (for tags= and LogsQL filters).
query_logs / query_metrics are for questions the above do not answer; agent_sessions shows
your own sessions (tokens, failed tool calls, the processes you started).
Durations are ms, times RFC3339 UTC; `since` is relative (15m), explicit start/end win."""

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

Since = Annotated[str | None, Field(description="relative, back from end: 30s, 15m, 2h, 1d")]
Start = Annotated[str | None, Field(description="RFC3339 or unix seconds; wins over since")]
End = Annotated[str | None, Field(description="RFC3339 or unix seconds; default now")]
ServiceName = Annotated[str, Field(description="exact service.name (see list_services)")]


@asynccontextmanager
async def lifespan(_server: MCPServer[LazyBackends]) -> AsyncIterator[LazyBackends]:
    backends = LazyBackends(Settings.from_env())  # the env as it is when the server starts
    try:
        yield backends
    finally:
        await backends.aclose()


mcp: MCPServer[LazyBackends] = MCPServer(
    name="obs-mcp",
    instructions=INSTRUCTIONS,
    log_level="WARNING",
    lifespan=lifespan,
)


def _backends(ctx: Context) -> Backends:
    backends = ctx.request_context.lifespan_context
    assert isinstance(backends, LazyBackends)
    return backends.get()


async def _answer(call: Awaitable[BaseModel], tool: str) -> CallToolResult:
    """Run one core call; every failure becomes an actionable isError, never a dead server.

    The answer is built here rather than by the SDK so the text block is compact JSON
    without nulls (the SDK pretty-prints with indent=2, which costs an agent ~30% more
    tokens); structured content carries the same dict, validated against the model.
    """
    try:
        result = await call
    except ObsError as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:
        log.exception("%s failed", tool)
        raise ToolError(f"internal error in {tool}: {type(exc).__name__}: {exc}") from exc
    text = compact_json(result)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=json.loads(text)
    )


@mcp.tool(annotations=READ_ONLY)
async def list_services(
    ctx: Context, since: Since = "1h", start: Start = None, end: End = None
) -> Annotated[CallToolResult, ServicesResult]:
    """Every service seen in traces, logs and metrics, with the newest timestamp per signal.
    Call first: it gives the exact names other tools need and shows whether data arrives."""
    from obs_mcp.core import services

    return await _answer(services.list_services(_backends(ctx), since, start, end), "list_services")


@mcp.tool(annotations=READ_ONLY)
async def error_rate(
    ctx: Context,
    service: ServiceName,
    since: Since = "5m",
    start: Start = None,
    end: End = None,
    operation: Annotated[
        str | None, Field(description="one span name, e.g. 'POST /api/checkout'")
    ] = None,
) -> Annotated[CallToolResult, ErrorRateResult]:
    """Exact requests, errors, error rate and p50/p95/p99 (ms, nearest rank) of a service, per
    operation, over ALL its spans. Request = entry SERVER/CONSUMER span (nested ones of the
    same service count once); error = status ERROR or UNSET with HTTP >= 500. Measure, or
    verify a fix; failing requests: search_traces."""
    from obs_mcp.core import red

    return await _answer(
        red.error_rate(_backends(ctx), service, since, start, end, operation), "error_rate"
    )


@mcp.tool(annotations=READ_ONLY)
async def search_traces(
    ctx: Context,
    service: ServiceName,
    operation: Annotated[str | None, Field(description="span name filter")] = None,
    errors_only: Annotated[bool, Field(description="only traces with an error span")] = False,
    min_duration: Annotated[str | None, Field(description="e.g. 250ms, 2s")] = None,
    tags: Annotated[
        dict[str, str] | None, Field(description="exact span attributes (keys: list_fields)")
    ] = None,
    since: Since = "1h",
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
) -> Annotated[CallToolResult, TracesResult]:
    """Find traces (newest first) that touched a service: summaries with root operation,
    duration, span and error counts. Trace ids for correlate_trace; rates: error_rate."""
    from obs_mcp.core import traces

    return await _answer(
        traces.search_traces(
            _backends(ctx),
            service,
            operation,
            errors_only,
            min_duration,
            tags,
            since,
            start,
            end,
            limit,
        ),
        "search_traces",
    )


@mcp.tool(annotations=READ_ONLY)
async def correlate_trace(
    ctx: Context,
    trace_id: Annotated[str, Field(description="32 hex chars")],
    max_tokens: Annotated[
        int, Field(ge=1000, le=25000, description="answer budget in tokens (chars/4)")
    ] = 8000,
    max_spans: Annotated[int, Field(ge=1, le=5000)] = 500,
    max_logs: Annotated[int, Field(ge=0, le=1000)] = 100,
    since: Annotated[str | None, Field(description="where to look up the id (default 7d)")] = None,
    start: Start = None,
    end: End = None,
) -> Annotated[CallToolResult, CorrelatedTrace]:
    """One trace within a token budget: span tree (status, exception, self time, critical path),
    each span's logs under it, RED of its services, and where the time went (top self time,
    repeated calls e.g. N+1 collapsed into one row). Root and errors always first; the rest is
    summarised in `omitted`. The step after search_traces or a log's trace_id."""
    from obs_mcp.core import correlate

    return await _answer(
        correlate.correlate_trace(
            _backends(ctx), trace_id, max_spans, max_logs, max_tokens, since, start, end
        ),
        "correlate_trace",
    )


@mcp.tool(annotations=READ_ONLY)
async def query_logs(
    ctx: Context,
    query: Annotated[str, Field(description="LogsQL, e.g. 'severity_text:ERROR timeout'")] = "*",
    service: Annotated[str | None, Field(description="exact service.name filter")] = None,
    since: Since = "15m",
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> Annotated[CallToolResult, LogsResult]:
    """Log lines (newest first) by LogsQL. Fields: _msg, severity_text, service.name,
    trace_id, span_id. For the logs of one trace, correlate_trace is better."""
    from obs_mcp.core import logs

    return await _answer(
        logs.query_logs(_backends(ctx), query, service, since, start, end, limit), "query_logs"
    )


@mcp.tool(annotations=READ_ONLY)
async def query_metrics(
    ctx: Context,
    query: Annotated[
        str, Field(description="PromQL/MetricsQL; counters end in _total, label service_name")
    ],
    since: Since = None,
    start: Start = None,
    end: End = None,
    step: Annotated[str | None, Field(description="range step, e.g. 30s (auto if omitted)")] = None,
) -> Annotated[CallToolResult, MetricsResult]:
    """PromQL over VictoriaMetrics: instant value now (no since/start) or a bounded range.
    For request error rates prefer error_rate (exact, from spans)."""
    from obs_mcp.core import metrics

    return await _answer(
        metrics.query_metrics(_backends(ctx), query, since, start, end, step), "query_metrics"
    )


At = Annotated[str | None, Field(description="RFC3339 or unix seconds")]
RunId = Annotated[str | None, Field(description="span attribute run.id (window: last 24h)")]


@mcp.tool(annotations=READ_ONLY)
async def compare_runs(
    ctx: Context,
    service: ServiceName,
    baseline_start: At = None,
    baseline_end: At = None,
    current_start: Annotated[str | None, Field(description="default baseline_end")] = None,
    current_end: Annotated[str | None, Field(description="default now")] = None,
    baseline_run: RunId = None,
    current_run: RunId = None,
    operation: Annotated[str | None, Field(description="one span name")] = None,
) -> Annotated[CallToolResult, CompareResult]:
    """Verify a fix in one call: baseline vs current window (or run.id) with requests, req/s,
    error rate, p50/p95/p99 per operation, new/gone error signatures and a verdict that only
    counts significant changes (requests and errors as in error_rate). Use instead of two
    error_rate calls."""
    from obs_mcp.core import compare

    return await _answer(
        compare.compare_runs(
            _backends(ctx), service, baseline_start, baseline_end, current_start,
            current_end, baseline_run, current_run, operation,
        ),
        "compare_runs",
    )  # fmt: skip


@mcp.tool(annotations=READ_ONLY)
async def top_errors(
    ctx: Context,
    service: Annotated[str | None, Field(description="exact service.name; all if omitted")] = None,
    since: Since = "15m",
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> Annotated[CallToolResult, TopErrorsResult]:
    """What fails, as incidents: the span where each error started (exception type + message
    template, count, first/last seen, sample trace and log, code location), with the callers'
    errors that only propagate it listed under it. correlate_trace(sample_trace_id) shows one."""
    from obs_mcp.core import signatures

    return await _answer(
        signatures.top_errors(_backends(ctx), service, since, start, end, limit), "top_errors"
    )


@mcp.tool(annotations=READ_ONLY)
async def service_overview(
    ctx: Context, service: ServiceName, since: Since = "15m"
) -> Annotated[CallToolResult, ServiceOverview]:
    """One page on any service: RED per operation, top error signatures, newest ERROR logs,
    services it calls and is called by, its metric names. Start here for an unfamiliar service."""
    from obs_mcp.core import overview

    return await _answer(
        overview.service_overview(_backends(ctx), service, since), "service_overview"
    )


@mcp.tool(annotations=READ_ONLY)
async def stack_health(
    ctx: Context,
    service: Annotated[str | None, Field(description="also check this service's data")] = None,
) -> Annotated[CallToolResult, StackHealth]:
    """Why is there no data? Collector and stores up, what they accepted/sent, newest span/log/
    metric (of a service too), and concrete fixes incl. close service names. Use when a tool
    comes back empty."""
    from obs_mcp.core import health

    return await _answer(health.stack_health(_backends(ctx), service), "stack_health")


@mcp.tool(annotations=READ_ONLY)
async def list_fields(
    ctx: Context,
    service: ServiceName,
    since: Since = "15m",
    start: Start = None,
    end: End = None,
    signal: Literal["spans", "logs", "both"] = "both",
    keys: Annotated[int, Field(ge=1, le=200, description="most frequent keys shown")] = 25,
    values: Annotated[int, Field(ge=1, le=20, description="top values per key")] = 5,
) -> Annotated[CallToolResult, FieldsResult]:
    """The attribute keys of a service's spans and logs with their top values and exact
    counts. Call before search_traces(tags=...) or a query_logs filter instead of guessing
    keys."""
    from obs_mcp.core import discovery

    return await _answer(
        discovery.list_fields(_backends(ctx), service, since, start, end, signal, keys, values),
        "list_fields",
    )


@mcp.tool(annotations=READ_ONLY)
async def wait_for_data(
    ctx: Context,
    service: Annotated[str | None, Field(description="exact service.name")] = None,
    run_id: Annotated[str | None, Field(description="run.id (span or resource attribute)")] = None,
    min_requests: Annotated[int, Field(ge=0, description="new entry spans")] = 1,
    min_logs: Annotated[int, Field(ge=0, description="new log lines")] = 0,
    since: Since = None,
    start: Start = None,
    timeout: Annotated[float, Field(gt=0, le=30, description="seconds")] = 10,  # noqa: ASYNC109
) -> Annotated[CallToolResult, WaitResult]:
    """After a re-run, before reading it: waits (progress notifications) until a service or
    run has the new requests/log lines, counted from start (default: this call); on timeout,
    what it saw and where the pipeline stops (stack_health). Pass start = the run's start."""
    from obs_mcp.core import wait

    return await _answer(
        wait.wait_for_data(
            _backends(ctx), service, run_id, min_requests, min_logs, since, start, timeout,
            ctx.report_progress,
        ),
        "wait_for_data",
    )  # fmt: skip


@mcp.tool(annotations=READ_ONLY)
async def agent_sessions(
    ctx: Context,
    session_id: Annotated[str | None, Field(description="one session: adds its tree")] = None,
    since: Annotated[str, Field(description="e.g. 2h, 7d")] = "1d",
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> Annotated[CallToolResult, AgentSessionsResult]:
    """Your own sessions (Claude Code, Codex), newest first: tokens, cost, API errors,
    tool/MCP calls, failures, child processes."""
    from obs_mcp.core import agent_sessions as sessions

    return await _answer(
        sessions.agent_sessions(_backends(ctx), session_id, None, since, None, None, limit),
        "agent_sessions",
    )


@mcp.resource("obs://cheatsheet/logsql", mime_type="text/markdown")
def logsql_cheatsheet() -> str:
    """LogsQL syntax for query_logs and span rows."""
    return guides.LOGSQL


@mcp.resource("obs://cheatsheet/promql", mime_type="text/markdown")
def promql_cheatsheet() -> str:
    """MetricsQL/PromQL for query_metrics, with this stack's naming."""
    return guides.PROMQL


@mcp.resource("obs://cheatsheet/fields", mime_type="text/markdown")
def fields_cheatsheet() -> str:
    """Span, log and metric field names this stack produces."""
    return guides.FIELDS


@mcp.prompt()
def investigate(service: str) -> str:
    """Walk the measure -> find -> fix -> verify loop for one service."""
    return guides.INVESTIGATE.format(service=service)


slim_tool_schemas(mcp)  # after every tool is registered


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        Settings.from_env()  # a malformed setting (a tenant id) is a sentence, not a traceback
    except InvalidArgument as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    mcp.run()


if __name__ == "__main__":
    main()
