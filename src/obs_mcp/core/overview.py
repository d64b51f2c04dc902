"""service_overview: one bounded page on ANY service, built only from what OTel SDKs emit
(server spans, error spans, ERROR logs, parent/child links, metric names), never from
app-specific metric names."""

from __future__ import annotations

from datetime import timedelta

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather, gather_all
from obs_mcp.core.fields import LOG_SERVICE, SERVICE
from obs_mcp.core.logs import to_log_row
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.core.red import RequestFigures, operation_rate, red_of, request_figures
from obs_mcp.core.repeats import repeated_calls
from obs_mcp.core.requests import PARENT_SLACK, error_spans
from obs_mcp.core.signatures import ERROR_LOG, top_errors
from obs_mcp.errors import StoreError
from obs_mcp.models import (
    LogRow,
    Neighbor,
    OperationRate,
    OperationRed,
    ServiceOverview,
    TopErrorsResult,
)
from obs_mcp.queries import (
    check_name,
    logsql_exact,
    logsql_field,
    logsql_time_range,
    promql_matcher,
)
from obs_mcp.timeparse import Window, resolve_window, rfc3339, store_time_ns

ERROR_LOGS = 5
TOP_SIGNATURES = 5
MAX_METRIC_NAMES = 60
MAX_NEIGHBORS = 20
METRIC_LOOKBACK = timedelta(hours=1)  # SDKs export metrics every 60 s by default


CALLER = "caller:"


def _own_spans(service: str, window: Window, field: str) -> str:
    """A subquery: `field` of every span of `service`, the time range widened both ways
    (a parent may end after the window, a child before it)."""
    wide = logsql_time_range(window.start - PARENT_SLACK, window.end + PARENT_SLACK)
    own = logsql_exact(SERVICE, service)
    return f"options(ignore_global_time_filter=true) {wide} {own} | fields {field}"


async def neighbors(
    backends: Backends, service: str, window: Window
) -> tuple[list[Neighbor], list[Neighbor]]:
    """(downstream, upstream): exact counts of calls, a call being a parent -> child span pair
    across two services; its errors are the callee's (child) spans that failed."""
    own = logsql_exact(SERVICE, service)
    per_service = (
        f"count() calls, count() if ({error_spans()}) errors "
        f"| sort by (calls desc) | limit {MAX_NEIGHBORS}"
    )
    down_q = (
        f"-{own} parent_span_id:in({_own_spans(service, window, 'span_id')}) "
        f"| stats by ({logsql_field(SERVICE)}) {per_service}"
    )
    wide = logsql_time_range(window.start, window.end + PARENT_SLACK)
    callers = (
        f"options(ignore_global_time_filter=true) {wide} -{own} "
        f"span_id:in({own} | fields parent_span_id) "
        f"| fields span_id, {logsql_field(SERVICE)} | rename span_id as parent_span_id"
    )
    caller = CALLER + SERVICE
    up_q = (
        f'{own} | join by (parent_span_id) ({callers}) inner prefix "{CALLER}" '
        f"| stats by ({logsql_field(caller)}) {per_service}"
    )
    down, up = await gather_all(
        lambda: backends.traces.query(down_q, window),
        lambda: backends.traces.query(up_q, window),
    )

    def listed(rows: list[dict[str, str]], field: str) -> list[Neighbor]:
        return [
            Neighbor(
                service=r[field], calls=int(r.get("calls") or 0), errors=int(r.get("errors") or 0)
            )
            for r in rows
            if r.get(field)
        ]

    return listed(down, SERVICE), listed(up, caller)


async def _metric_names(backends: Backends, service: str, window: Window) -> list[str]:
    start = min(window.start, window.end - METRIC_LOOKBACK)
    matcher = "{" + promql_matcher("service_name", service) + "}"
    names = await backends.metrics.metric_names(matcher, start.timestamp(), window.end.timestamp())
    return sorted(names)


async def _error_logs(backends: Backends, service: str, window: Window) -> list[LogRow]:
    query = f"{logsql_exact(LOG_SERVICE, service)} ({ERROR_LOG})"
    rows = await backends.logs.query(query, window, limit=ERROR_LOGS)
    rows.sort(key=lambda r: store_time_ns(r.get("_time", "")), reverse=True)
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
    figures, errors, logs, links, metric_names, repeats = await gather(
        lambda: request_figures(backends, service, window),
        lambda: top_errors(backends, service, None, start, end, TOP_SIGNATURES),
        lambda: _error_logs(backends, service, window),
        lambda: neighbors(backends, service, window),
        lambda: _metric_names(backends, service, window),
        lambda: repeated_calls(backends, service, window),
    )
    if isinstance(figures, StoreError):
        raise figures
    assert isinstance(figures, RequestFigures)
    warnings = [
        f"{o.store} unavailable: {o}"
        for o in (errors, logs, links, metric_names, repeats)
        if isinstance(o, StoreError)
    ]
    down, up = links if isinstance(links, tuple) else ([], [])
    names = metric_names if isinstance(metric_names, list) else []
    red = red_of(service, window, figures)
    hint = None
    if not red.requests:
        hint = await unknown_service_hint(backends, service, window, f"No requests of {service!r}")
        hint += " If data should be there, run stack_health(service)."
    elif figures.operations_total > len(figures.operations):
        hint = (
            f"{len(figures.operations)} of {figures.operations_total} operations shown (most "
            "errors, then requests); error_rate(operation=...) gives any one."
        )
    elif len(names) > MAX_METRIC_NAMES:
        hint = f"{len(names)} metric names; the first {MAX_METRIC_NAMES} are listed."
    if len(down) >= MAX_NEIGHBORS or len(up) >= MAX_NEIGHBORS:
        warnings.append(f"only the {MAX_NEIGHBORS} busiest neighbours per side are listed")
    return ServiceOverview(
        service=service,
        window=window.describe(),
        red=red,
        operations=[
            _operation(operation_rate(n, g), window.seconds) for n, g in figures.operations
        ],
        top_errors=errors.signatures if isinstance(errors, TopErrorsResult) else [],
        error_logs=logs if isinstance(logs, list) else [],
        downstream=down,
        upstream=up,
        repeated_calls=repeats if isinstance(repeats, list) else [],
        metric_names=names[:MAX_METRIC_NAMES],
        hint=hint,
        warnings=warnings,
    )
