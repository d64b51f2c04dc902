"""search_traces and correlate_trace over VictoriaTraces' LogsQL rows (+ logs, + RED)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather, gather_all
from obs_mcp.core.fields import (
    BRIEF_VALUE_CHARS,
    KIND_NAMES,
    LOG_SERVICE,
    MAX_MESSAGE_CHARS,
    SERVICE,
    SPAN_ATTR,
    SPAN_ATTR_BRIEF,
    SPAN_ATTR_NOISE,
    SPAN_ATTR_PREFIXES,
    SPAN_ATTR_TWINS,
    STATUS_ERROR,
    clip,
    clip_tail,
)
from obs_mcp.core.red import busiest_services, red_snapshot
from obs_mcp.errors import InvalidArgument, StoreError
from obs_mcp.models import (
    CorrelatedTrace,
    RedSnapshot,
    SpanLog,
    SpanNode,
    TracesResult,
    TraceSummary,
)
from obs_mcp.queries import check_name, logsql_exact, logsql_field, logsql_in, normalize_trace_id
from obs_mcp.timeparse import (
    Window,
    from_unix_nanos,
    parse_duration,
    parse_store_time,
    resolve_window,
    rfc3339,
)

SPAN_FETCH_CAP = 20_000
LOG_FETCH_CAP = 5_000
MAX_TAGS = 10
RED_MAX_SERVICES = 10
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
        parts.append(logsql_exact("status_code", STATUS_ERROR))
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
        f"count() if ({logsql_exact('status_code', STATUS_ERROR)}) errors, "
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
        if current is None or row.get("start_time_unix_nano", "") < current.get(
            "start_time_unix_nano", ""
        ):
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
    out.sort(key=lambda t: t.start_time, reverse=True)
    return out


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
    id_rows = await backends.traces.query(ids_q, window)
    ids = [row["trace_id"] for row in id_rows if row.get("trace_id")]
    truncated = len(ids) > limit
    ids = ids[:limit]
    traces = await _summaries(backends, ids, window) if ids else []
    hint = None
    if not traces:
        hint = await _empty_hint(backends, service, window, operation, errors_only)
    elif truncated:
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
    )


async def _empty_hint(
    backends: Backends, service: str, window: Window, operation: str | None, errors_only: bool
) -> str:
    names_q = (
        f"{logsql_exact(SERVICE, service)} | stats by (name) count() spans, "
        f"count() if ({logsql_exact('status_code', STATUS_ERROR)}) errors "
        "| sort by (spans desc) | limit 10"
    )
    operations = await backends.traces.query(names_q, window)
    if not operations:
        services = await busiest_services(backends, window, server_only=False)
        return (
            f"No spans from service {service!r} in {window.describe()}. Services with spans: "
            f"{', '.join(services) or 'none'} (names are exact; widen `since` if it is older)."
        )
    ops = ", ".join(
        f"{r['name']} ({r.get('spans')} spans, {r.get('errors')} errors)" for r in operations
    )
    what = " with errors" if errors_only else ""
    return f"No traces{what} matched the filters. Operations of {service!r} in this window: {ops}."


# ---- correlate_trace --------------------------------------------------------------------------
def _span_attributes(row: dict[str, str], full: bool) -> dict[str, str]:
    """Attributes that explain a span; brief (a few keys) unless it is the root or failed."""
    if not full:
        brief = {}
        for name in SPAN_ATTR_BRIEF:
            value = row.get(SPAN_ATTR + name)
            if value and not (name == "http.status_code" and "http.response.status_code" in brief):
                brief[name] = clip(value, BRIEF_VALUE_CHARS)
        return brief
    attrs: dict[str, str] = {}
    for key, value in row.items():
        if key.startswith(SPAN_ATTR):
            name = key[len(SPAN_ATTR) :]
            if name.startswith(SPAN_ATTR_PREFIXES) and name not in SPAN_ATTR_NOISE:
                twin = SPAN_ATTR_TWINS.get(name)
                if twin is None or SPAN_ATTR + twin not in row:
                    attrs[name] = clip(value)
    for key, value in row.items():  # exception events -> exception.* attributes
        if key.startswith("event:event_name:") and value == "exception":
            index = key.rsplit(":", 1)[1]
            for part in ("type", "message", "stacktrace"):
                raw = row.get(f"event:event_attr:exception.{part}:{index}")
                if raw:
                    attrs[f"exception.{part}"] = (
                        clip_tail(raw) if part == "stacktrace" else clip(raw)
                    )
    return attrs


def _to_log(row: dict[str, str]) -> SpanLog:
    return SpanLog(
        time=rfc3339(parse_store_time(row["_time"])) if row.get("_time") else "",
        severity=row.get("severity_text") or row.get("severity"),
        message=clip(row.get("_msg", ""), MAX_MESSAGE_CHARS),
        service=row.get(LOG_SERVICE),
        span_id=row.get("span_id") or None,
    )


def _order_spans(rows: list[dict[str, str]]) -> list[tuple[dict[str, str], int]]:
    """Depth-first order from the roots; spans whose parent is absent count as roots."""
    by_id = {row["span_id"]: row for row in rows if row.get("span_id")}
    children: dict[str, list[dict[str, str]]] = defaultdict(list)
    roots: list[dict[str, str]] = []
    for row in by_id.values():
        parent = row.get("parent_span_id")
        if parent and parent in by_id and parent != row["span_id"]:
            children[parent].append(row)
        else:
            roots.append(row)

    def start_key(row: dict[str, str]) -> int:
        return int(row.get("start_time_unix_nano") or 0)

    ordered: list[tuple[dict[str, str], int]] = []
    seen: set[str] = set()
    stack = [(root, 0) for root in sorted(roots, key=start_key, reverse=True)]
    while stack:
        row, depth = stack.pop()
        if row["span_id"] in seen:
            continue
        seen.add(row["span_id"])
        ordered.append((row, depth))
        for child in sorted(children.get(row["span_id"], []), key=start_key, reverse=True):
            stack.append((child, depth + 1))
    return ordered


def _select_spans(
    ordered: list[tuple[dict[str, str], int]], max_spans: int
) -> tuple[list[tuple[dict[str, str], int]], int]:
    """Keep roots, error spans and their ancestors always; fill the rest in tree order."""
    if len(ordered) <= max_spans:
        return ordered, 0
    by_id = {row["span_id"]: row for row, _ in ordered}
    keep: set[str] = set()
    for row, depth in ordered:
        if depth == 0 or row.get("status_code") == STATUS_ERROR:
            current: dict[str, str] | None = row
            while current is not None and current["span_id"] not in keep:
                keep.add(current["span_id"])
                parent = current.get("parent_span_id")
                current = by_id.get(parent) if parent else None
    for row, _ in ordered:
        if len(keep) >= max_spans:
            break
        keep.add(row["span_id"])
    chosen = [(row, depth) for row, depth in ordered if row["span_id"] in keep]
    return chosen, len(ordered) - len(chosen)


def _select_logs(rows: list[dict[str, str]], max_logs: int) -> list[dict[str, str]]:
    """Errors and warnings first, then the rest; shown in time order."""

    def severity_rank(row: dict[str, str]) -> int:
        severity = (row.get("severity_text") or row.get("severity") or "").upper()
        return (
            0
            if severity.startswith(("ERROR", "FATAL", "CRIT"))
            else 1
            if severity.startswith("WARN")
            else 2
        )

    chosen = sorted(rows, key=lambda r: (severity_rank(r), r.get("_time", "")))[:max_logs]
    return sorted(chosen, key=lambda r: r.get("_time", ""))


async def correlate_trace(
    backends: Backends, trace_id: str, max_spans: int = 200, max_logs: int = 100
) -> CorrelatedTrace:
    trace_id = normalize_trace_id(trace_id)
    if not 1 <= max_spans <= 5000:
        raise InvalidArgument(f"max_spans={max_spans}: choose 1..5000")
    if not 0 <= max_logs <= 1000:
        raise InvalidArgument(f"max_logs={max_logs}: choose 0..1000")
    query = logsql_exact("trace_id", trace_id)
    spans_out, logs_out = await gather(
        lambda: backends.traces.query(query, None, limit=SPAN_FETCH_CAP + 1),
        lambda: backends.logs.query(query, None, limit=LOG_FETCH_CAP + 1),
    )
    if isinstance(spans_out, StoreError) and isinstance(logs_out, StoreError):
        raise spans_out
    warnings: list[str] = []
    span_rows: list[dict[str, str]] = []
    log_rows: list[dict[str, str]] = []
    if isinstance(spans_out, StoreError):
        warnings.append(f"spans unavailable: {spans_out}")
    else:
        span_rows = [r for r in spans_out if r.get("span_id")]
    if isinstance(logs_out, StoreError):
        warnings.append(f"logs unavailable: {logs_out}")
    else:
        log_rows = logs_out
    if len(span_rows) > SPAN_FETCH_CAP:
        warnings.append(f"trace has more than {SPAN_FETCH_CAP} spans; only that many were read")
        span_rows = span_rows[:SPAN_FETCH_CAP]
    if not span_rows and not log_rows:
        return CorrelatedTrace(
            trace_id=trace_id,
            found=False,
            warnings=warnings,
            hint=(
                "No spans or logs carry this trace_id (data is kept 7 days). Find ids with "
                "search_traces(service=..., errors_only=True) or from query_logs rows."
            ),
        )
    result = CorrelatedTrace(trace_id=trace_id, found=True, warnings=warnings)
    ordered = _order_spans(span_rows)
    chosen, omitted = _select_spans(ordered, max_spans)
    starts = [int(r.get("start_time_unix_nano") or 0) for r in span_rows]
    ends = [int(r.get("end_time_unix_nano") or 0) for r in span_rows]
    t0 = min((s for s in starts if s), default=0)
    t1 = max(ends, default=0)
    shown_ids = {row["span_id"] for row, _ in chosen}
    logs_chosen = _select_logs(log_rows, max_logs)
    logs_by_span: dict[str, list[SpanLog]] = defaultdict(list)
    for row in logs_chosen:
        log = _to_log(row)
        if log.span_id in shown_ids:
            # Nested under its span: the span_id would only repeat the parent's.
            logs_by_span[log.span_id or ""].append(log.model_copy(update={"span_id": None}))
        else:
            result.orphan_logs.append(log)
    for row, depth in chosen:
        start_ns = int(row.get("start_time_unix_nano") or 0)
        is_error = row.get("status_code") == STATUS_ERROR
        result.spans.append(
            SpanNode(
                span_id=row["span_id"],
                parent_span_id=row.get("parent_span_id") or None,
                depth=depth,
                service=row.get(SERVICE),
                operation=row.get("name", ""),
                kind=KIND_NAMES.get(row.get("kind", "0"), row.get("kind", "")),
                start_offset_ms=round((start_ns - t0) / 1e6, 3) if start_ns and t0 else 0.0,
                duration_ms=round(int(row.get("duration") or 0) / 1e6, 3),
                status="error" if is_error else "ok",
                status_message=row.get("status_message") or None,
                attributes=_span_attributes(row, full=depth == 0 or is_error),
                logs=logs_by_span.get(row["span_id"], []),
            )
        )
    result.span_count = len(span_rows)
    result.error_count = sum(1 for r in span_rows if r.get("status_code") == STATUS_ERROR)
    result.spans_returned = len(result.spans)
    result.spans_omitted = omitted
    result.log_count = len(log_rows)
    result.logs_returned = len(logs_chosen)
    result.logs_omitted = len(log_rows) - len(logs_chosen)
    result.services = sorted(
        {r[SERVICE] for r in span_rows if r.get(SERVICE)}
        | {r[LOG_SERVICE] for r in log_rows if r.get(LOG_SERVICE)}
    )
    if t0:
        result.start_time = rfc3339(from_unix_nanos(t0))
        result.duration_ms = round((t1 - t0) / 1e6, 3)
        result.red, red_warnings = await _red_around(backends, result.services, t0, t1)
        result.warnings += red_warnings
    elif not span_rows:
        result.warnings.append("logs carry this trace_id but no spans were found")
    if omitted:
        result.hint = (
            f"{omitted} of {len(span_rows)} spans omitted (root, error spans and their "
            "ancestors are always shown); raise max_spans to see more."
        )
    return result


async def _red_around(
    backends: Backends, services: list[str], t0: int, t1: int
) -> tuple[list[RedSnapshot], list[str]]:
    """RED of each service in the trace over the 10 minutes around it."""
    now = datetime.now(UTC)
    window = Window(
        from_unix_nanos(t0) - timedelta(minutes=5),
        min(now, from_unix_nanos(t1) + timedelta(minutes=5)),
    )
    if window.start >= window.end:
        return [], []
    picked = services[:RED_MAX_SERVICES]
    outcomes = await gather(*[
        (lambda svc=svc: red_snapshot(backends, svc, window)) for svc in picked
    ])  # fmt: skip
    snapshots = [o for o in outcomes if isinstance(o, RedSnapshot)]
    warnings = [f"RED snapshot unavailable: {o}" for o in outcomes if isinstance(o, StoreError)]
    return snapshots, warnings
