"""list_services: every service seen in traces, logs and metrics, newest timestamp per signal."""

from __future__ import annotations

from datetime import UTC, datetime

from obs_mcp.clients.logsql import partial_allowed
from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather
from obs_mcp.core.fields import LOG_SERVICE, SERVICE
from obs_mcp.core.tenants import tenant_hints
from obs_mcp.errors import StoreError
from obs_mcp.models import ServiceSeen, ServicesResult
from obs_mcp.queries import logsql_field
from obs_mcp.timeparse import Window, parse_store_time, resolve_window, rfc3339

MAX_SERVICES = 200


def _per_service_query(field: str, count_name: str) -> str:
    return (
        f"* | stats by ({logsql_field(field)}) count() {count_name}, max(_time) newest "
        f"| sort by ({count_name} desc) | limit {MAX_SERVICES + 1}"
    )


async def _metric_services(backends: Backends, window: Window) -> dict[str, str]:
    seconds = max(1, int(window.seconds))
    query = f'max by (service_name) (tlast_over_time({{service_name!=""}}[{seconds}s]))'
    data = await backends.metrics.instant(query, window.end.timestamp())
    out: dict[str, str] = {}
    for item in data.get("result", []):
        name = item.get("metric", {}).get("service_name")
        if name:
            out[name] = rfc3339(datetime.fromtimestamp(float(item["value"][1]), UTC))
    return out


async def list_services(
    backends: Backends,
    since: str | None = "1h",
    start: str | None = None,
    end: str | None = None,
) -> ServicesResult:
    window = resolve_window(since, start, end, default_since="1h")
    with partial_allowed() as partial:  # a list of names: partial, said so, beats none
        spans, logs, metrics = await gather(
            lambda: backends.traces.query(_per_service_query(SERVICE, "spans"), window),
            lambda: backends.logs.query(_per_service_query(LOG_SERVICE, "logs"), window),
            lambda: _metric_services(backends, window),
        )
    failures = [o for o in (spans, logs, metrics) if isinstance(o, StoreError)]
    if len(failures) == 3:
        raise failures[0]
    seen: dict[str, ServiceSeen] = {}

    def entry(name: str) -> ServiceSeen:
        return seen.setdefault(name, ServiceSeen(service=name))

    truncated = False
    per_signal = (
        (spans, SERVICE, "spans", "newest_span"),
        (logs, LOG_SERVICE, "logs", "newest_log"),
    )
    for rows, field, count_name, newest_name in per_signal:
        if not isinstance(rows, list):
            continue  # that store failed: its warning is below
        truncated |= len(rows) > MAX_SERVICES
        for row in rows:
            if row.get(field):
                item = entry(row[field])
                setattr(item, count_name, int(row.get(count_name) or 0))
                setattr(item, newest_name, rfc3339(parse_store_time(row["newest"])))
    if isinstance(metrics, dict):
        for name, newest in metrics.items():
            item = entry(name)
            item.metric_series = True
            item.newest_metric = newest

    def newest_of(item: ServiceSeen) -> str:
        return max(
            t for t in (item.newest_span, item.newest_log, item.newest_metric, "") if t is not None
        )

    services = sorted(seen.values(), key=newest_of, reverse=True)[:MAX_SERVICES]
    hint = None
    if not services:
        hint = (
            f"Nothing arrived in {window.describe()}. Widen `since`, or check that apps export "
            "OTLP to the collector (OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318)."
        )
        stores = [c for c, rows in ((backends.traces, spans), (backends.logs, logs)) if rows == []]
        if tenant := await tenant_hints(stores, window):
            hint = f"Nothing arrived in {window.describe()}. {tenant}"
    return ServicesResult(
        window=window.describe(),
        services=services,
        returned=len(services),
        truncated=truncated,
        hint=hint,
        warnings=[*partial, *(f"{f.store} unavailable: {f}" for f in failures)],
    )
