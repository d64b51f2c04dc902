"""query_logs: LogsQL over VictoriaLogs, newest first, bounded."""

from __future__ import annotations

from obs_mcp.clients.logsql import partial_allowed, with_partial_note
from obs_mcp.core.backends import Backends
from obs_mcp.core.fields import LOG_SERVICE, MAX_MESSAGE_CHARS, clip, log_attributes
from obs_mcp.core.links import logs_link, with_filter
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.core.tenants import tenant_hint
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import LogRow, LogsResult
from obs_mcp.queries import check_name, logsql_exact
from obs_mcp.timeparse import Window, resolve_window, rfc3339_ns, store_time_ns

MAX_QUERY_CHARS = 4000


def to_log_row(row: dict[str, str]) -> LogRow:
    return LogRow(
        time=rfc3339_ns(store_time_ns(row["_time"])) if row.get("_time") else "",
        service=row.get(LOG_SERVICE),
        severity=row.get("severity_text") or row.get("severity"),
        message=clip(row.get("_msg", ""), MAX_MESSAGE_CHARS),
        trace_id=row.get("trace_id") or None,
        span_id=row.get("span_id") or None,
        attributes=log_attributes(row),
    )


async def query_logs(
    backends: Backends,
    query: str = "*",
    service: str | None = None,
    since: str | None = "15m",
    start: str | None = None,
    end: str | None = None,
    limit: int = 50,
) -> LogsResult:
    if not 1 <= limit <= 1000:
        raise InvalidArgument(f"limit={limit}: choose 1..1000")
    query = (query or "*").strip() or "*"
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"query is longer than {MAX_QUERY_CHARS} characters")
    window = resolve_window(since, start, end, default_since="15m")
    extra = logsql_exact(LOG_SERVICE, check_name(service, "service")) if service else None
    with partial_allowed() as partial:  # example lines: partial, said so, beats none
        rows = await backends.logs.query(query, window, limit=limit + 1, extra_filters=extra)
        rows.sort(key=lambda r: store_time_ns(r.get("_time", "")), reverse=True)
        truncated = len(rows) > limit
        shown = [to_log_row(row) for row in rows[:limit]]
        hint = None
        if not shown:  # the hint's own queries may meet the same missing node
            hint = with_partial_note(await _empty_hint(backends, service, window), partial)
    if shown and truncated:
        hint = (
            f"More than {limit} lines matched; narrow with a filter (e.g. severity_text:ERROR, "
            "trace_id:=...), a shorter window, or add `| stats ...` to aggregate."
        )
    shown_query = query if not extra else f"{query}  [and {extra}]"
    ui_query = with_filter(query, extra) if extra else query
    return LogsResult(
        query=shown_query,
        window=window.describe(),
        rows=shown,
        returned=len(shown),
        truncated=truncated,
        hint=hint,
        links={"logs": logs_link(backends.settings, ui_query, window)} if shown else {},
        warnings=partial,
    )


async def _empty_hint(backends: Backends, service: str | None, window: Window) -> str:
    if service:
        return await unknown_service_hint(
            backends, service, window, f"No logs of {service!r} matched", logs=True
        )
    if tenant := await tenant_hint(backends.logs, window):
        return f"No logs matched in {window.describe()}. {tenant}"
    return f"No logs matched in {window.describe()}. Try a wider `since`."
