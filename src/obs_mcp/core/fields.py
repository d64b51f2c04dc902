"""Field names the stack produces, and the trimming that keeps answers small."""

from __future__ import annotations

from collections.abc import Mapping

from obs_mcp.queries import logsql_field

# VictoriaTraces span rows
SERVICE = "resource_attr:service.name"
SPAN_ATTR = "span_attr:"
RESOURCE_ATTR = "resource_attr:"
SERVER_KINDS = ("2", "5")  # SPAN_KIND_SERVER, SPAN_KIND_CONSUMER
STATUS_ERROR = "2"
KIND_NAMES = {
    "0": "unspecified",
    "1": "internal",
    "2": "server",
    "3": "client",
    "4": "producer",
    "5": "consumer",
}

# Span events: event i of a span is `event:<field>:<i>` (`event:event_name:0`,
# `event:event_attr:exception.type:0`) in every VictoriaTraces release and in vt-compat;
# builds from before its first release (v0.1.0, July 2025) wrote `event:<i>:<field>`.
# Readers take both; projections name the old layout's first OLD_LAYOUT_EVENTS events
# exactly, since a LogsQL `fields` wildcard only matches a prefix (`event:*` would also
# pull every stack trace).
OLD_LAYOUT_EVENTS = 8
EXCEPTION = "exception"

# VictoriaLogs rows from OTLP logs
LOG_SERVICE = "service.name"

# Log fields that are bookkeeping, not information for an agent.
LOG_NOISE_PREFIXES = ("telemetry.", "otel", "_", "scope.", "process.", "os.", "host.")
LOG_NOISE_FIELDS = {
    "service.instance.id", "severity_number", "color_message", "observed_time_unix_nano",
    "flags", "trace_flags", "dropped_attributes_count",
}  # fmt: skip
LOG_CORE_FIELDS = {
    "_time",
    "_msg",
    "service.name",
    "severity_text",
    "severity",
    "trace_id",
    "span_id",
}

# Span attributes worth showing (semantic-convention families that explain a failure).
SPAN_ATTR_PREFIXES = (
    "http.", "url.", "server.", "db.", "rpc.", "messaging.", "exception.", "error.", "code.",
    "run.id", "net.peer.", "network.peer.",
)  # fmt: skip

# Low-value span attributes (transport details, and old-convention twins of newer names).
SPAN_ATTR_NOISE = {
    "http.flavor", "http.scheme", "http.server_name", "http.host", "http.user_agent",
    "net.peer.ip", "net.peer.port", "network.peer.address", "network.peer.port", "server.port",
    "url.scheme", "network.protocol.version", "user_agent.original",
}  # fmt: skip
SPAN_ATTR_TWINS = {
    "http.method": "http.request.method",
    "http.status_code": "http.response.status_code",
    "http.url": "url.full",
    "http.target": "url.path",
}

# For spans that are neither the root nor in error only these keys are shown, briefly:
# enough to tell what a span did, at a fraction of the tokens (a 200-span answer).
SPAN_ATTR_BRIEF = (
    "http.route", "http.response.status_code", "http.status_code", "db.system",
    "db.query.text", "db.statement", "rpc.method", "messaging.destination.name",
    "code.function.name", "code.file.path", "code.line.number",  # the line that made the call
)  # fmt: skip
BRIEF_VALUE_CHARS = 120

MAX_VALUE_CHARS = 400
MAX_MESSAGE_CHARS = 2000
MAX_STACK_CHARS = 1500


def clip(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    return value if len(value) <= limit else value[:limit] + f"…(+{len(value) - limit} chars)"


def clip_tail(value: str, limit: int = MAX_STACK_CHARS) -> str:
    """Keep the end of a stack trace: the raising frame is last in Python and Java traces."""
    return value if len(value) <= limit else f"…(+{len(value) - limit} chars)" + value[-limit:]


def log_attributes(row: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in row.items():
        if key in LOG_CORE_FIELDS or key in LOG_NOISE_FIELDS or key.startswith(LOG_NOISE_PREFIXES):
            continue
        if key == "exception.stacktrace":
            out[key] = clip_tail(value)
        else:
            out[key] = clip(value)
    return out


def span_events(row: Mapping[str, str]) -> dict[int, dict[str, str]]:
    """A span row's events by index: {field ("event_name", "event_attr:exception.type"): value}."""
    events: dict[int, dict[str, str]] = {}
    for key, value in row.items():
        if not key.startswith("event:"):
            continue
        rest = key[len("event:") :]
        head, _, tail = rest.partition(":")
        if head.isdigit():  # event:<i>:<field>
            index, name = head, tail
        else:  # event:<field>:<i>
            name, _, index = rest.rpartition(":")
        if name and index.isdigit():
            events.setdefault(int(index), {})[name] = value
    return events


def last_exception(row: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """(type, message, stacktrace) of the span's last exception event, if any."""
    found = [e for _, e in sorted(span_events(row).items()) if e.get("event_name") == EXCEPTION]
    if not found:
        return None, None, None
    event = found[-1]
    return (
        event.get("event_attr:exception.type") or None,
        event.get("event_attr:exception.message"),
        event.get("event_attr:exception.stacktrace"),
    )


def exception_columns(*parts: str) -> list[str]:
    """LogsQL `fields` entries for the event names and these exception.* attributes, in
    both layouts (see OLD_LAYOUT_EVENTS)."""
    names = ["event_name", *(f"event_attr:exception.{part}" for part in parts)]
    new = [logsql_field(f"event:{name}:*") for name in names]
    old = [logsql_field(f"event:{i}:{name}") for i in range(OLD_LAYOUT_EVENTS) for name in names]
    return new + old
