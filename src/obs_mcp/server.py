"""The MCP server: thin typed tools over the query core (names, descriptions, schemas, hints).

`mcp run src/obs_mcp/server.py` and `mcp dev` find the module-level `mcp`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from obs_mcp.core import logs, metrics, red, services, traces
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.errors import ObsError
from obs_mcp.models import (
    CorrelatedTrace,
    ErrorRateResult,
    LogsResult,
    MetricsResult,
    ServicesResult,
    TracesResult,
)

log = logging.getLogger("obs_mcp.server")
T = TypeVar("T")

INSTRUCTIONS = """\
Telemetry of the apps on this machine (OTel -> VictoriaLogs/Metrics/Traces). Work in numbers:
1. list_services: exact service names and whether data is arriving.
2. error_rate(service): exact error rate and p50/p95/p99 from ALL server spans, per operation.
3. search_traces(service, errors_only=True): failing trace ids.
4. correlate_trace(trace_id): span tree + the logs of each span + RED of each service, in one call.
5. Fix the code, re-run the workload, then error_rate again over the new window
   (start/end) and report before -> after figures, e.g. "error rate 18.7% -> 0%".
query_logs / query_metrics are for questions the above do not answer.
Durations are ms, times RFC3339 UTC; `since` is relative (15m), explicit start/end win."""

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

Since = Annotated[str | None, Field(description="relative window back from end: 30s, 15m, 2h, 1d")]
Start = Annotated[str | None, Field(description="RFC3339 or unix seconds; wins over since")]
End = Annotated[str | None, Field(description="RFC3339 or unix seconds; default now")]
ServiceName = Annotated[str, Field(description="exact service.name (see list_services)")]


@asynccontextmanager
async def lifespan(_server: MCPServer[Backends]) -> AsyncIterator[Backends]:
    async with open_backends() as backends:
        yield backends


mcp: MCPServer[Backends] = MCPServer(
    name="obs-mcp",
    instructions=INSTRUCTIONS,
    log_level="WARNING",
    lifespan=lifespan,
)


def _backends(ctx: Context) -> Backends:
    backends = ctx.request_context.lifespan_context
    assert isinstance(backends, Backends)
    return backends


async def _answer(call: Awaitable[T], tool: str) -> T:
    """Every failure reaches the agent as an actionable isError, never as a dead server."""
    try:
        return await call
    except ObsError as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:
        log.exception("%s failed", tool)
        raise ToolError(f"internal error in {tool}: {type(exc).__name__}: {exc}") from exc


@mcp.tool(annotations=READ_ONLY)
async def list_services(
    ctx: Context, since: Since = "1h", start: Start = None, end: End = None
) -> ServicesResult:
    """Every service seen in traces, logs and metrics, with the newest timestamp per signal.
    Call first: it gives the exact names other tools need and shows whether data arrives."""
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
) -> ErrorRateResult:
    """Exact request count, errors, error rate and p50/p95/p99 (ms) of a service from ALL its
    server spans, per operation. Use it to measure a problem and to verify a fix (compare two
    windows). For individual failing requests use search_traces."""
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
        dict[str, str] | None, Field(description="span attributes that must match exactly")
    ] = None,
    since: Since = "1h",
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
) -> TracesResult:
    """Find traces (newest first) that touched a service: summaries with root operation,
    duration, span and error counts. Returns trace ids for correlate_trace; use error_rate
    for rates, not counts of these."""
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
    max_spans: Annotated[int, Field(ge=1, le=5000)] = 200,
    max_logs: Annotated[int, Field(ge=0, le=1000)] = 100,
) -> CorrelatedTrace:
    """One trace in full: span tree (depth-first; status, exception, http/db attributes),
    each span's log lines nested under it, and RED of every service involved. The root and
    all error spans are always kept. The step after search_traces or a log's trace_id."""
    return await _answer(
        traces.correlate_trace(_backends(ctx), trace_id, max_spans, max_logs), "correlate_trace"
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
) -> LogsResult:
    """Log lines (newest first) by LogsQL. Fields: _msg, severity_text, service.name,
    trace_id, span_id. For the logs of one trace, correlate_trace is better."""
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
) -> MetricsResult:
    """PromQL over VictoriaMetrics: instant value now (no since/start) or a bounded range.
    For request error rates prefer error_rate (exact, from spans)."""
    return await _answer(
        metrics.query_metrics(_backends(ctx), query, since, start, end, step), "query_metrics"
    )


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    mcp.run()


if __name__ == "__main__":
    main()
