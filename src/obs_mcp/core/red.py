"""error_rate and RED snapshots: exact aggregates over ALL server/consumer spans (LogsQL stats)."""

from __future__ import annotations

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.fields import SERVER_KINDS, SERVICE, STATUS_ERROR
from obs_mcp.models import ErrorRateResult, OperationRate, RedSnapshot
from obs_mcp.queries import check_name, logsql_exact, logsql_field, logsql_in
from obs_mcp.timeparse import Window, resolve_window

MAX_OPERATIONS = 30
_STATS = (
    f"count() total, count() if ({logsql_exact('status_code', STATUS_ERROR)}) errors, "
    "quantile(0.5, duration) p50, quantile(0.95, duration) p95, quantile(0.99, duration) p99"
)


def server_spans(service: str, operation: str | None = None) -> str:
    """LogsQL selecting a service's server/consumer spans (one per handled request)."""
    parts = [logsql_exact(SERVICE, service), logsql_in("kind", list(SERVER_KINDS))]
    if operation:
        parts.append(logsql_exact("name", operation))
    return " ".join(parts)


def _ms(raw: str | None) -> float | None:
    if raw in (None, "", "NaN"):
        return None
    return round(float(raw) / 1e6, 3)


def _int(raw: str | None) -> int:
    return int(float(raw)) if raw not in (None, "") else 0


async def operation_stats(
    backends: Backends, service: str, window: Window, operation: str | None = None
) -> list[OperationRate]:
    query = (
        f"{server_spans(service, operation)} | stats by (name) {_STATS} "
        f"| sort by (errors desc, total desc) | limit {MAX_OPERATIONS + 1}"
    )
    rows = await backends.traces.query(query, window)
    return [
        OperationRate(
            operation=row.get("name", ""),
            total=_int(row.get("total")),
            errors=_int(row.get("errors")),
            error_rate=round(_int(row.get("errors")) / max(1, _int(row.get("total"))), 6),
            p50_ms=_ms(row.get("p50")),
            p95_ms=_ms(row.get("p95")),
            p99_ms=_ms(row.get("p99")),
        )
        for row in rows
    ]


async def totals(
    backends: Backends, service: str, window: Window, operation: str | None = None
) -> dict[str, str]:
    rows = await backends.traces.query(
        f"{server_spans(service, operation)} | stats {_STATS}", window
    )
    return rows[0] if rows else {}


async def busiest_services(
    backends: Backends, window: Window, server_only: bool = True
) -> list[str]:
    """The 20 services with most spans (server spans only, by default): names for hints."""
    selector = logsql_in("kind", list(SERVER_KINDS)) if server_only else "*"
    query = (
        f"{selector} | stats by ({logsql_field(SERVICE)}) "
        "count() spans | sort by (spans desc) | limit 20"
    )
    return [row[SERVICE] for row in await backends.traces.query(query, window) if row.get(SERVICE)]


async def error_rate(
    backends: Backends,
    service: str,
    since: str | None = "5m",
    start: str | None = None,
    end: str | None = None,
    operation: str | None = None,
) -> ErrorRateResult:
    check_name(service, "service")
    if operation is not None:
        check_name(operation, "operation")
    window = resolve_window(since, start, end, default_since="5m")
    overall, per_op = await gather_all(
        lambda: totals(backends, service, window, operation),
        lambda: operation_stats(backends, service, window, operation),
    )
    total, errors = _int(overall.get("total")), _int(overall.get("errors"))
    hint = None
    if total == 0:
        known = await busiest_services(backends, window)
        hint = (
            f"No server/consumer spans for service {service!r}"
            + (f" and operation {operation!r}" if operation else "")
            + f" in {window.describe()}. Services with server spans then: "
            + (", ".join(known) or "none")
            + ". Widen `since`, or check the name with list_services."
        )
    elif len(per_op) > MAX_OPERATIONS:
        hint = (
            f"Showing the {MAX_OPERATIONS} operations with most errors; pass operation=... for one."
        )
    return ErrorRateResult(
        service=service,
        window=window.describe(),
        source=(
            f"VictoriaTraces LogsQL stats over all {total} server/consumer spans "
            "(exact counts, not a sample of traces); error = span status ERROR"
        ),
        total=total,
        errors=errors,
        error_rate=round(errors / total, 6) if total else 0.0,
        p50_ms=_ms(overall.get("p50")),
        p95_ms=_ms(overall.get("p95")),
        p99_ms=_ms(overall.get("p99")),
        operations=per_op[:MAX_OPERATIONS],
        operations_returned=min(len(per_op), MAX_OPERATIONS),
        operations_truncated=len(per_op) > MAX_OPERATIONS,
        hint=hint,
    )


async def red_snapshot(backends: Backends, service: str, window: Window) -> RedSnapshot:
    row = await totals(backends, service, window)
    total, errors = _int(row.get("total")), _int(row.get("errors"))
    return RedSnapshot(
        service=service,
        window=window.describe(),
        requests=total,
        rate_per_s=round(total / window.seconds, 4) if window.seconds else 0.0,
        errors=errors,
        error_ratio=round(errors / total, 6) if total else 0.0,
        p95_ms=_ms(row.get("p95")),
    )
