"""top_errors: error spans grouped into signatures (service + operation + exception type +
message template), so a thousand failures with different ids read as one line with a count.

Error spans are read once with a bounded `fields` query and grouped here; stack traces and
log lines are fetched afterwards for the few sample spans only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather
from obs_mcp.core.fields import LOG_SERVICE, SERVICE, SPAN_ATTR, STATUS_ERROR, clip
from obs_mcp.errors import InvalidArgument, StoreError
from obs_mcp.models import ErrorSignature, TopErrorsResult
from obs_mcp.queries import check_name, logsql_exact, logsql_field, logsql_in
from obs_mcp.timeparse import Window, parse_store_time, resolve_window, rfc3339

SPAN_CAP = 5000
TEMPLATE_CHARS = 300
EVENT = "event:event_name:"
EXC = "event:event_attr:exception."
ERROR_LOG = (
    'severity_text:in("ERROR","error","Error","FATAL","fatal","CRITICAL","critical") '
    "or severity_number:>=17"
)
LOG_SLACK = timedelta(minutes=5)

_MASKS = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I), "<url>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)\"[^\"\n]*\"(?!\w)"), "<str>"),
    (re.compile(r"(?<![\w<])(?:0x)?(?=[0-9a-f]*\d)[0-9a-f]{8,}(?!\w)", re.I), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)*"), "<num>"),
]
_PY_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
_JAVA_FRAME = re.compile(r"^\s*at ([\w.$<>]+)\(([^:()]+):(\d+)\)", re.M)
_JS_FRAME = re.compile(r"^\s*at (?:(\S+) \()?([^()\s]+):(\d+):\d+\)?", re.M)


def message_template(message: str) -> str:
    """Mask what varies per request (urls, emails, uuids, quoted text, hex ids, numbers)."""
    text = message
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return clip(" ".join(text.split()), TEMPLATE_CHARS)


def stack_location(stacktrace: str) -> str | None:
    """The raising frame: the last `File` line of a Python trace, the first `at` of Java/JS."""
    frames = _PY_FRAME.findall(stacktrace)
    if frames:
        path, line, func = frames[-1]
        return f"{path}:{line} in {func}"
    if java := _JAVA_FRAME.search(stacktrace):
        return f"{java.group(2)}:{java.group(3)} in {java.group(1)}"
    if js := _JS_FRAME.search(stacktrace):
        return f"{js.group(2)}:{js.group(3)}" + (f" in {js.group(1)}" if js.group(1) else "")
    return None


def code_location(row: dict[str, str]) -> str | None:
    """From OTel `code.*` span attributes (old and new semantic-convention names)."""

    def attr(*names: str) -> str | None:
        return next((row[SPAN_ATTR + n] for n in names if row.get(SPAN_ATTR + n)), None)

    func = attr("code.function.name", "code.function")
    path = attr("code.file.path", "code.filepath")
    line = attr("code.line.number", "code.lineno")
    if not (func or path):
        return None
    where = f"{path}:{line}" if path and line else path or ""
    return f"{where} in {func}".strip() if func else where


def _exception(row: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """(type, message, stacktrace) of the span's last exception event, if any."""
    indexes = [k[len(EVENT) :] for k, v in row.items() if k.startswith(EVENT) and v == "exception"]
    if not indexes:
        return None, None, None
    i = max(indexes, key=lambda s: int(s) if s.isdigit() else -1)
    return (
        row.get(f"{EXC}type:{i}") or None,
        row.get(f"{EXC}message:{i}"),
        row.get(f"{EXC}stacktrace:{i}"),
    )


@dataclass
class Group:
    service: str
    operation: str
    exception_type: str | None
    template: str
    count: int = 0
    first: str = ""
    last: str = ""
    sample: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.operation} | {self.exception_type or 'status'}: {self.template}"


def _http_status(row: dict[str, str]) -> str:
    """How an error span without exception or status message can still be told apart."""
    code = row.get(SPAN_ATTR + "http.response.status_code") or row.get(
        SPAN_ATTR + "http.status_code"
    )
    return f"HTTP {code}" if code else "(no message)"


def error_span_filter(service: str | None, extra: str | None = None) -> str:
    parts = [logsql_exact("status_code", STATUS_ERROR)]
    if service:
        parts.append(logsql_exact(SERVICE, check_name(service, "service")))
    if extra:
        parts.append(extra)
    return " ".join(parts)


async def collect(
    backends: Backends, span_filter: str, window: Window, cap: int = SPAN_CAP
) -> tuple[list[Group], int, bool]:
    """(groups sorted by count, error spans read, capped?) for the newest `cap` error spans."""
    columns = ", ".join([
        "_time", "trace_id", "span_id", "name", logsql_field(SERVICE), "status_message",
        logsql_field(EVENT + "*"), logsql_field(EXC + "type:*"), logsql_field(EXC + "message:*"),
        logsql_field(SPAN_ATTR + "code.*"), logsql_field(SPAN_ATTR + "http.response.status_code"),
        logsql_field(SPAN_ATTR + "http.status_code"),
    ])  # fmt: skip
    rows = await backends.traces.query(f"{span_filter} | fields {columns}", window, limit=cap + 1)
    capped = len(rows) > cap
    rows.sort(key=lambda r: r.get("_time", ""), reverse=True)
    groups: dict[tuple[str, str, str | None, str], Group] = {}
    for row in rows[:cap]:
        exc_type, exc_message, _ = _exception(row)
        if exc_type or exc_message or row.get("status_message"):
            template = message_template(exc_message or row.get("status_message", ""))
        else:
            template = _http_status(row)  # a status code is the signature, not a number to mask
        key = (row.get(SERVICE, ""), row.get("name", ""), exc_type, template)
        group = groups.get(key) or groups.setdefault(key, Group(*key, sample=row))
        group.count += 1
        when = row.get("_time", "")
        group.last = max(group.last, when) if group.last else when
        group.first = min(group.first, when) if group.first else when
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.label))
    return ordered, min(len(rows), cap), capped


async def _details(
    backends: Backends, groups: list[Group], window: Window
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(stacktrace, error log line, warnings) for the sample spans, keyed by span_id."""
    span_ids = [g.sample["span_id"] for g in groups if g.sample.get("span_id")]
    trace_ids = sorted({g.sample["trace_id"] for g in groups if g.sample.get("trace_id")})
    if not span_ids:
        return {}, {}, []
    wide = Window(window.start - LOG_SLACK, window.end + LOG_SLACK)
    stacks_q = (
        f"{logsql_in('span_id', span_ids)} | fields span_id, "
        f"{logsql_field(EVENT + '*')}, {logsql_field(EXC + 'stacktrace:*')}"
    )
    logs_q = (
        f"{logsql_in('trace_id', trace_ids)} ({ERROR_LOG}) "
        f"| fields _time, _msg, trace_id, span_id, {logsql_field(LOG_SERVICE)}"
    )
    spans, logs = await gather(
        lambda: backends.traces.query(stacks_q, wide, limit=len(span_ids) * 2),
        lambda: backends.logs.query(logs_q, wide, limit=len(trace_ids) * 20),
    )
    warnings = [f"{o.store} unavailable: {o}" for o in (spans, logs) if isinstance(o, StoreError)]
    stacks: dict[str, str] = {}
    for row in spans if isinstance(spans, list) else []:
        stack = _exception(row)[2]
        if stack:
            stacks[row["span_id"]] = stack
    by_trace: dict[str, list[dict[str, str]]] = {}
    for row in logs if isinstance(logs, list) else []:
        if row.get("_msg"):
            by_trace.setdefault(row.get("trace_id", ""), []).append(row)
    lines: dict[str, str] = {}
    for g in groups:
        candidates = by_trace.get(g.sample.get("trace_id", ""), [])
        if candidates:  # the sample span's own log, else its service's, else the newest
            best = max(candidates, key=lambda r: (
                r.get("span_id") == g.sample.get("span_id"),
                r.get(LOG_SERVICE) == g.service,
                r.get("_time", ""),
            ))  # fmt: skip
            lines[g.sample.get("span_id", "")] = clip(best["_msg"])
    return stacks, lines, warnings


def _time(raw: str) -> str:
    return rfc3339(parse_store_time(raw)) if raw else ""


async def top_errors(
    backends: Backends,
    service: str | None = None,
    since: str | None = "15m",
    start: str | None = None,
    end: str | None = None,
    limit: int = 10,
) -> TopErrorsResult:
    if not 1 <= limit <= 50:
        raise InvalidArgument(f"limit={limit}: choose 1..50")
    window = resolve_window(since, start, end, default_since="15m")
    groups, read, capped = await collect(backends, error_span_filter(service), window)
    shown = groups[:limit]
    stacks, log_lines, warnings = await _details(backends, shown, window)
    signatures = [
        ErrorSignature(
            service=g.service,
            operation=g.operation,
            exception_type=g.exception_type,
            message=g.template,
            count=g.count,
            first_seen=_time(g.first),
            last_seen=_time(g.last),
            sample_trace_id=g.sample.get("trace_id", ""),
            sample_log=log_lines.get(g.sample.get("span_id", "")),
            code_location=code_location(g.sample)
            or stack_location(stacks.get(g.sample.get("span_id", ""), "")),
        )
        for g in shown
    ]
    hint = None
    if not signatures:
        who = f" of service {service!r}" if service else ""
        hint = f"No error spans{who} in {window.describe()}; widen `since` or check list_services."
    elif capped:
        hint = f"Only the newest {SPAN_CAP} error spans were grouped; counts are of those."
    elif len(groups) > limit:
        hint = f"{len(groups)} signatures; raise limit (max 50) or filter by service."
    return TopErrorsResult(
        window=window.describe(),
        error_spans=read,
        error_spans_capped=capped,
        signatures=signatures,
        returned=len(signatures),
        truncated=len(groups) > limit or capped,
        hint=hint,
        warnings=warnings,
    )
