"""service_overview: one bounded page on ANY service, built only from what OTel SDKs emit
(server spans, error spans, ERROR logs, parent/child links, metric names), never from
app-specific metric names."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather
from obs_mcp.core.fields import LOG_SERVICE, SERVICE, STATUS_ERROR
from obs_mcp.core.logs import to_log_row
from obs_mcp.core.red import operation_stats, red_snapshot
from obs_mcp.core.signatures import ERROR_LOG, top_errors
from obs_mcp.errors import StoreError
from obs_mcp.models import (
    LogRow,
    Neighbor,
    OperationRate,
    OperationRed,
    RedSnapshot,
    ServiceOverview,
    TopErrorsResult,
)
from obs_mcp.queries import check_name, logsql_exact, logsql_field, logsql_in, promql_matcher
from obs_mcp.timeparse import Window, resolve_window, rfc3339

TRACE_SAMPLE = 100
SPAN_CAP = 20_000
ERROR_LOGS = 5
TOP_SIGNATURES = 5
MAX_METRIC_NAMES = 60
METRIC_LOOKBACK = timedelta(hours=1)  # SDKs export metrics every 60 s by default
SLACK = timedelta(minutes=5)


async def neighbors(
    backends: Backends, service: str, window: Window
) -> tuple[list[Neighbor], list[Neighbor], int]:
    """(downstream, upstream, traces sampled) from parent/child spans of the newest traces."""
    ids_q = (
        f"{logsql_exact(SERVICE, service)} | stats by (trace_id) max(_time) last "
        f"| sort by (last desc) | limit {TRACE_SAMPLE}"
    )
    ids = [r["trace_id"] for r in await backends.traces.query(ids_q, window) if r.get("trace_id")]
    if not ids:
        return [], [], 0
    spans_q = (
        f"{logsql_in('trace_id', ids)} "
        f"| fields trace_id, span_id, parent_span_id, status_code, {logsql_field(SERVICE)}"
    )
    wide = Window(window.start - SLACK, window.end + SLACK)
    rows = await backends.traces.query(spans_q, wide, limit=SPAN_CAP)
    owner = {(r.get("trace_id"), r.get("span_id")): r.get(SERVICE, "") for r in rows}
    down: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    up: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        parent = owner.get((row.get("trace_id"), row.get("parent_span_id")))
        child = row.get(SERVICE, "")
        if parent is None or parent == child:
            continue
        failed = int(row.get("status_code") == STATUS_ERROR)
        side, other = (down, child) if parent == service else (up, parent)
        if service in (parent, child):
            side[other][0] += 1
            side[other][1] += failed

    def listed(counts: dict[str, list[int]]) -> list[Neighbor]:
        items = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return [Neighbor(service=s, calls=c[0], errors=c[1]) for s, c in items]

    return listed(down), listed(up), len(ids)


async def _metric_names(backends: Backends, service: str, window: Window) -> list[str]:
    start = min(window.start, window.end - METRIC_LOOKBACK)
    matcher = "{" + promql_matcher("service_name", service) + "}"
    names = await backends.metrics.metric_names(matcher, start.timestamp(), window.end.timestamp())
    return sorted(names)


async def _error_logs(backends: Backends, service: str, window: Window) -> list[LogRow]:
    query = f"{logsql_exact(LOG_SERVICE, service)} ({ERROR_LOG})"
    rows = await backends.logs.query(query, window, limit=ERROR_LOGS)
    rows.sort(key=lambda r: r.get("_time", ""), reverse=True)
    return [to_log_row(r) for r in rows]


def _operation(op: OperationRate, seconds: float) -> OperationRed:
    return OperationRed(
        operation=op.operation,
        requests=op.total,
        per_s=round(op.total / seconds, 4) if seconds else 0.0,
        errors=op.errors,
        error_rate=op.error_rate,
        p50_ms=op.p50_ms,
        p95_ms=op.p95_ms,
    )


async def service_overview(
    backends: Backends, service: str, since: str | None = "15m"
) -> ServiceOverview:
    check_name(service, "service")
    window = resolve_window(since, None, None, default_since="15m")
    start, end = rfc3339(window.start), rfc3339(window.end)
    red, ops, errors, logs, links, metric_names = await gather(
        lambda: red_snapshot(backends, service, window),
        lambda: operation_stats(backends, service, window),
        lambda: top_errors(backends, service, None, start, end, TOP_SIGNATURES),
        lambda: _error_logs(backends, service, window),
        lambda: neighbors(backends, service, window),
        lambda: _metric_names(backends, service, window),
    )
    if isinstance(red, StoreError):
        raise red
    assert isinstance(red, RedSnapshot)
    warnings = [
        f"{o.store} unavailable: {o}"
        for o in (ops, errors, logs, links, metric_names)
        if isinstance(o, StoreError)
    ]
    down, up, sampled = links if isinstance(links, tuple) else ([], [], 0)
    names = metric_names if isinstance(metric_names, list) else []
    hint = None
    if not red.requests:
        hint = (
            f"No server spans from {service!r} in {window.describe()}: widen `since`, check the "
            "name with list_services, or run stack_health(service) if data should be there."
        )
    elif len(names) > MAX_METRIC_NAMES:
        hint = f"{len(names)} metric names; the first {MAX_METRIC_NAMES} are listed."
    return ServiceOverview(
        service=service,
        window=window.describe(),
        red=red,
        operations=[_operation(op, window.seconds) for op in ops] if isinstance(ops, list) else [],
        top_errors=errors.signatures if isinstance(errors, TopErrorsResult) else [],
        error_logs=logs if isinstance(logs, list) else [],
        downstream=down,
        upstream=up,
        traces_sampled=sampled,
        metric_names=names[:MAX_METRIC_NAMES],
        hint=hint,
        warnings=warnings,
    )
