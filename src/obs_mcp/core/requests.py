"""The one definition of a request and of a server error, as LogsQL over span rows.

Every tool that counts (error_rate, compare_runs, service_overview, top_errors, the RED part
of correlate_trace) selects requests with `entry_spans` and errors with `REQUEST_ERROR`, so
two instrumentations of one request (ASGI middleware + framework, WSGI + Django) count once
and a 5xx left with status UNSET still counts as an error.
"""

from __future__ import annotations

from datetime import timedelta

from obs_mcp.core.fields import SERVER_KINDS, SERVICE, SPAN_ATTR
from obs_mcp.queries import logsql_exact, logsql_field, logsql_in, logsql_string, logsql_time_range
from obs_mcp.timeparse import Window

REQUEST_DEFINITION = (
    "request = an entry span: kind SERVER or CONSUMER whose parent span is absent or belongs "
    "to another service (nested server spans of the same service are part of that request); "
    "error = status ERROR, or status UNSET with HTTP status >= 500 (4xx are not server errors)"
)
REQUEST_DEFINITION_SHORT = (
    "a request = an entry SERVER/CONSUMER span (nested ones of the same service count once); "
    "an error = status ERROR, or UNSET with HTTP status >= 500"
)

# A nested span's parent ends after it: look that far past the window for parents, so a
# request that ends just after the window does not turn its inner span into a request.
PARENT_SLACK = timedelta(minutes=5)
# A request belongs to the window its span ENDS in. VictoriaTraces stores a span's `_time` as
# its end (vt-compat, JSON ingest) or as its start (protobuf ingest in releases up to at least
# v0.9), so the store is asked for this much earlier and the end time is filtered exactly.
REQUEST_SLACK = timedelta(minutes=10)

HTTP_STATUS_KEYS = (SPAN_ATTR + "http.response.status_code", SPAN_ATTR + "http.status_code")
_HTTP_5XX = " or ".join(f"{logsql_field(key)}:>=500" for key in HTTP_STATUS_KEYS)
STATUS_ERROR_FILTER = logsql_exact("status_code", "2")
UNSET_5XX = f"(-{logsql_field('status_code')}:in(1,2) ({_HTTP_5XX}))"
REQUEST_ERROR = f"({STATUS_ERROR_FILTER} or {UNSET_5XX})"


def server_kinds() -> str:
    return logsql_in("kind", list(SERVER_KINDS))


def store_window(window: Window) -> Window:
    """The `_time` range to send with a query that selects requests by `ends_in(window)`."""
    return Window(window.start - REQUEST_SLACK, window.end)


def ends_in(window: Window) -> str:
    """Spans whose end lies in [start, end): exact, on the integer nanoseconds. They are
    compared as 19-digit strings, which order exactly as the integers do (years 2001-2286)."""
    low, high = (str(int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000)
                 for t in (window.start, window.end))  # fmt: skip
    return f"end_time_unix_nano:string_range({logsql_string(low)}, {logsql_string(high)})"


def entry_spans(service: str, window: Window, operation: str | None = None) -> str:
    """LogsQL selecting the requests of `service` ending in `window` (see REQUEST_DEFINITION);
    send it with `store_window(window)`.

    Nested = its parent is one of the service's own spans. Asked the cheap way round (3x
    faster at 1M spans than testing against every own span id): the innermost subquery
    collects the parent ids of the service's server spans in the window, the middle one
    keeps those that are the service's own spans (with a time range of its own, since a
    parent ends after its child, maybe after the window), and the outer query drops the
    server spans whose parent is among them.
    """
    return entry_spans_where(
        logsql_exact(SERVICE, service),
        ends_in(window),
        logsql_time_range(window.start - REQUEST_SLACK - PARENT_SLACK, window.end + PARENT_SLACK),
        logsql_exact("name", operation) if operation else None,
    )


def entry_spans_where(
    own: str, ends: str, parents_range: str, operation_filter: str | None = None
) -> str:
    """entry_spans from its parts as LogsQL: the service filter, the end-time filter and the
    parents' time range (the Grafana dashboards pass template variables; tools pass literals)."""
    named = [operation_filter] if operation_filter else []
    served = " ".join([own, server_kinds(), ends, *named])
    own_parents = (
        f"options(ignore_global_time_filter=true) {parents_range} {own} "
        f"span_id:in({served} | fields parent_span_id) | fields span_id"
    )
    return f"{served} -parent_span_id:in({own_parents})"


def error_spans(service: str | None = None) -> str:
    """Spans that failed: status ERROR anywhere, or a server/consumer span UNSET with a 5xx."""
    parts = [f"({STATUS_ERROR_FILTER} or ({server_kinds()} {UNSET_5XX}))"]
    if service:
        parts.append(logsql_exact(SERVICE, service))
    return " ".join(parts)
