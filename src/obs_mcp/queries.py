"""Safe building blocks for LogsQL and PromQL: user values only ever enter as quoted literals."""

from __future__ import annotations

import json
import re
from datetime import datetime

from obs_mcp.errors import InvalidArgument
from obs_mcp.timeparse import rfc3339

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def logsql_string(value: str) -> str:
    """A LogsQL quoted string: JSON escaping is a subset of what LogsQL's parser unquotes."""
    return json.dumps(value, ensure_ascii=False)


def logsql_field(name: str) -> str:
    """Field names are always quoted: `resource_attr:service.name` has a colon in it."""
    return logsql_string(name)


def logsql_exact(field: str, value: str) -> str:
    return f"{logsql_field(field)}:={logsql_string(value)}"


def logsql_in(field: str, values: list[str]) -> str:
    return f"{logsql_field(field)}:in({','.join(logsql_string(v) for v in values)})"


def logsql_time_range(start: datetime, end: datetime) -> str:
    """A `_time:[start, end]` filter (for subqueries that keep their own time range)."""
    return f"_time:[{rfc3339(start)}, {rfc3339(end)}]"


def promql_label_value(value: str) -> str:
    """A PromQL double-quoted label value (backslash, quote and newlines escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def promql_matcher(label: str, value: str) -> str:
    if not _LABEL_NAME.fullmatch(label):
        raise InvalidArgument(f"label name {label!r} is not a valid Prometheus label name")
    return f"{label}={promql_label_value(value)}"


def normalize_trace_id(trace_id: str) -> str:
    cleaned = trace_id.strip().lower()
    if not _TRACE_ID.fullmatch(cleaned):
        raise InvalidArgument(
            f"trace_id {trace_id[:80]!r} is not a trace id: expected 32 hex characters "
            "(e.g. from search_traces or a log line's trace_id)"
        )
    if cleaned == "0" * 32:
        raise InvalidArgument("trace_id of all zeros is the invalid (unset) trace id")
    return cleaned


def check_name(value: str, what: str, max_len: int = 256) -> str:
    """Service/operation names: any text is allowed (it is quoted), but bounded and non-empty."""
    if not value or not value.strip():
        raise InvalidArgument(f"{what} must not be empty")
    if len(value) > max_len:
        raise InvalidArgument(f"{what} is longer than {max_len} characters")
    return value
