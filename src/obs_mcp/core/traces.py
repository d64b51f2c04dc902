"""search_traces: trace summaries over VictoriaTraces' LogsQL rows (correlate.py reads one)."""

from __future__ import annotations

import json
from datetime import timedelta

from obs_mcp.clients.logsql import partial_allowed, with_partial_note
from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.fields import SERVICE, SPAN_ATTR
from obs_mcp.core.links import spans_link
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.core.requests import error_spans
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import TracesResult, TraceSummary
from obs_mcp.queries import check_name, logsql_exact, logsql_field, logsql_in
from obs_mcp.timeparse import Window, from_unix_nanos, parse_duration, resolve_window, rfc3339

MAX_TAGS = 10
TRACE_SLACK = timedelta(minutes=10)  # a trace's spans may end outside the search window


# ---- search_traces ----------------------------------------------------------------------------
def _span_filter(
    service: str,
    operation: str | None,
    errors_only: bool,
    min_duration: str | None,
    tags: dict[str, str] | None,
) -> str:
    parts = [logsql_exact(SERVICE, check_name(service, "service"))]
    if operation:
        parts.append(logsql_exact("name", check_name(operation, "operation")))
    if errors_only:
        parts.append(error_spans())
    if min_duration:
        nanos = int(parse_duration(min_duration, "min_duration").total_seconds() * 1e9)
        parts.append(f"{logsql_field('duration')}:>={nanos}")
    if tags:
        if len(tags) > MAX_TAGS:
            raise InvalidArgument(f"at most {MAX_TAGS} tags")
        for key, value in tags.items():
            check_name(key, "tag name")
            if "*" in key:  # LogsQL reads `*` in a field name as a wildcard, even quoted
                raise InvalidArgument(f"tag name {key[:80]!r}: '*' is not allowed; use exact names")
            field = key if key.startswith(("resource_attr:", "span_attr:")) else SPAN_ATTR + key
            parts.append(logsql_exact(field, str(value)))
    return " ".join(parts)


async def _summaries(backends: Backends, ids: list[str], window: Window) -> list[TraceSummary]:
    wide = Window(window.start - TRACE_SLACK, window.end + TRACE_SLACK)
    id_filter = logsql_in("trace_id", ids)
    stats_q = (
        f"{id_filter} | stats by (trace_id) count() spans, "
        f"count() if ({error_spans()}) errors, "
        "min(start_time_unix_nano) st, max(end_time_unix_nano) et, "
        f"uniq_values({logsql_field(SERVICE)}) svcs"
    )
    roots_q = (
        f'{id_filter} {logsql_field("parent_span_id")}:"" '
        f"| fields trace_id, name, {logsql_field(SERVICE)}, start_time_unix_nano"
    )
    stats, roots = await gather_all(
        lambda: backends.traces.query(stats_q, wide),
        lambda: backends.traces.query(roots_q, wide, limit=len(ids) * 4),
    )
    root_of: dict[str, dict[str, str]] = {}
    for row in roots:
        current = root_of.get(row["trace_id"])
        if current is None or _start(row) < _start(current):
            root_of[row["trace_id"]] = row
    out = []
    for row in stats:
        trace_id = row["trace_id"]
        start_ns, end_ns = int(row.get("st") or 0), int(row.get("et") or 0)
        root = root_of.get(trace_id, {})
        out.append(
            TraceSummary(
                trace_id=trace_id,
                root_service=root.get(SERVICE),
                root_operation=root.get("name"),
                start_time=rfc3339(from_unix_nanos(start_ns)) if start_ns else "",
                duration_ms=round((end_ns - start_ns) / 1e6, 3) if start_ns and end_ns else 0.0,
                span_count=int(row.get("spans") or 0),
                error_count=int(row.get("errors") or 0),
                services=sorted(json.loads(row.get("svcs") or "[]")),
            )
        )
    newest = {row["trace_id"]: int(row.get("st") or 0) for row in stats}
    out.sort(key=lambda t: newest.get(t.trace_id, 0), reverse=True)
    return out


def _start(row: dict[str, str]) -> int:
    return int(row.get("start_time_unix_nano") or 0)


async def search_traces(
    backends: Backends,
    service: str,
    operation: str | None = None,
    errors_only: bool = False,
    min_duration: str | None = None,
    tags: dict[str, str] | None = None,
    since: str | None = "1h",
    start: str | None = None,
    end: str | None = None,
    limit: int = 20,
) -> TracesResult:
    if not 1 <= limit <= 200:
        raise InvalidArgument(f"limit={limit}: choose 1..200")
    window = resolve_window(since, start, end, default_since="1h")
    span_filter = _span_filter(service, operation, errors_only, min_duration, tags)
    ids_q = (
        f"{span_filter} | stats by (trace_id) max(_time) last "
        f"| sort by (last desc) | limit {limit + 1}"
    )
    with partial_allowed() as partial:  # example traces: partial, said so, beats none
        id_rows = await backends.traces.query(ids_q, window)
        ids = [row["trace_id"] for row in id_rows if row.get("trace_id")]
        truncated = len(ids) > limit
        ids = ids[:limit]
        traces = await _summaries(backends, ids, window) if ids else []
        hint = None
        if not traces:  # the hint's own queries may meet the same missing node
            hint = with_partial_note(
                await _empty_hint(backends, service, window, operation, errors_only), partial
            )
    if traces and truncated:
        hint = (
            f"More than {limit} traces matched (newest shown): narrow with operation, "
            "errors_only, min_duration, tags or a shorter window."
        )
    return TracesResult(
        window=window.describe(),
        traces=traces,
        returned=len(traces),
        truncated=truncated,
        hint=hint,
        links={"spans": spans_link(backends.settings, span_filter, window)} if traces else {},
        warnings=partial,
    )


async def _empty_hint(
    backends: Backends, service: str, window: Window, operation: str | None, errors_only: bool
) -> str:
    names_q = (
        f"{logsql_exact(SERVICE, service)} | stats by (name) count() spans, "
        f"count() if ({error_spans()}) errors "
        "| sort by (spans desc) | limit 10"
    )
    operations = await backends.traces.query(names_q, window)
    if not operations:
        return await unknown_service_hint(
            backends, service, window, f"No spans from service {service!r}"
        )
    ops = ", ".join(
        f"{r['name']} ({r.get('spans')} spans, {r.get('errors')} errors)" for r in operations
    )
    what = " with errors" if errors_only else ""
    return f"No traces{what} matched the filters. Operations of {service!r} in this window: {ops}."
