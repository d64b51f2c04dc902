"""Field names the stack produces, and the trimming that keeps answers small."""

from __future__ import annotations

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
