"""top_errors: error spans grouped into signatures (service + operation + exception type +
message template), so a thousand failures with different ids read as one line with a count.

Error spans are read once with a bounded `fields` query and grouped here; stack traces and
log lines are fetched afterwards for the few sample spans only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather
from obs_mcp.core.fields import (
    LOG_SERVICE,
    SERVICE,
    SPAN_ATTR,
    clip,
    exception_columns,
    last_exception,
)
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.core.requests import error_spans
from obs_mcp.errors import InvalidArgument, StoreError
from obs_mcp.models import EchoSignature, ErrorSignature, TopErrorsResult
from obs_mcp.queries import check_name, logsql_field, logsql_in
from obs_mcp.timeparse import Window, resolve_window, rfc3339_ns, store_time_ns

SPAN_CAP = 5000
MAX_LINK_LEVELS = 8  # OK spans between two error spans, at most
LINK_SLACK = timedelta(minutes=5)  # a parent ends after its child
MAX_ECHOES = 5
TEMPLATE_CHARS = 300
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


@dataclass
class Group:
    service: str
    operation: str
    exception_type: str | None
    template: str
    count: int = 0
    first: int = 0  # unix ns
    last: int = 0
    sample: dict[str, str] = field(default_factory=dict)
    example: str | None = None  # one raw message, beside the template
    echoes: dict[tuple[str, str, str | None, str], int] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str | None, str]:
        return (self.service, self.operation, self.exception_type, self.template)

    @property
    def label(self) -> str:
        return f"{self.operation} | {self.exception_type or 'status'}: {self.template}"

    def add(self, row: dict[str, str]) -> None:
        self.count += 1
        when = store_time_ns(row.get("_time", ""))
        self.first = min(self.first, when) if self.first else when
        self.last = max(self.last, when)


def _http_status(row: dict[str, str]) -> str:
    """How an error span without exception or status message can still be told apart."""
    code = row.get(SPAN_ATTR + "http.response.status_code") or row.get(
        SPAN_ATTR + "http.status_code"
    )
    return f"HTTP {code}" if code else "(no message)"


def signature(row: dict[str, str]) -> tuple[tuple[str, str, str | None, str], str | None]:
    """(service, operation, exception type, message template) and the raw message."""
    exc_type, exc_message, _ = last_exception(row)
    raw = exc_message or row.get("status_message") or None
    # Without a message, a status code is the signature (not a number to mask).
    template = message_template(raw or "") if exc_type or raw else _http_status(row)
    return (row.get(SERVICE, ""), row.get("name", ""), exc_type, template), raw


def error_spans_of(service: str | None, extra: str | None = None) -> str:
    """Error spans of a service's incidents: every error span of the traces it failed in."""
    if not service:
        return " ".join(filter(None, [error_spans(), extra]))
    check_name(service, "service")
    own = " ".join(filter(None, [error_spans(service), extra]))
    return f"{error_spans()} trace_id:in({own} | fields trace_id)"


def _raised(row: dict[str, str]) -> bool:
    exc_type, exc_message, _ = last_exception(row)
    return bool(exc_type or exc_message)


async def parent_links(
    backends: Backends, rows: list[dict[str, str]], window: Window
) -> dict[str, str]:
    """span_id -> parent_span_id for the error spans and every ancestor above them.

    Ancestors that did not fail are not among the error rows; they are read (ids only) a
    level at a time, so an error below an OK span is still known to be below its caller.
    """
    links = {r["span_id"]: r.get("parent_span_id", "") for r in rows if r.get("span_id")}
    wide = Window(window.start, window.end + LINK_SLACK)
    missing = {p for p in links.values() if p and p not in links}
    for _ in range(MAX_LINK_LEVELS):
        if not missing:
            break
        batch = sorted(missing)[:SPAN_CAP]
        found = await backends.traces.query(
            f"{logsql_in('span_id', batch)} | fields span_id, parent_span_id",
            wide,
            limit=len(batch) * 2,
        )
        for row in found:
            if row.get("span_id"):
                links[row["span_id"]] = row.get("parent_span_id", "")
        for span_id in batch:
            links.setdefault(span_id, "")  # not found: treat as a root
        missing = {p for p in links.values() if p and p not in links}
    return links


def origins(rows: list[dict[str, str]], links: dict[str, str]) -> dict[str, str]:
    """span_id -> the span_id of the origin its error propagates from (itself for an origin).

    Per trace, the candidates are the error spans that raised (carry an exception), or all
    error spans when none did. Deepest first, each candidate claims the error spans above it
    (the callers' 5xx) as its echoes; a candidate claimed that way is an echo too. Error spans
    with no candidate below them belong to the trace's deepest candidate (framework spans
    such as "http send" that failed beside the real error).
    """
    by_trace: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row.get("span_id"):
            by_trace[row.get("trace_id", "")].append(row)
    origin_of: dict[str, str] = {}
    for spans in by_trace.values():
        origin_of.update(_trace_origins({r["span_id"]: r for r in spans}, links))
    return origin_of


def _chain(span_id: str, links: dict[str, str]) -> list[str]:
    """The ancestors of a span, nearest first (cycles cut)."""
    out, seen = [], {span_id}
    parent = links.get(span_id, "")
    while parent and parent not in seen:
        out.append(parent)
        seen.add(parent)
        parent = links.get(parent, "")
    return out


def _trace_origins(by_id: dict[str, dict[str, str]], links: dict[str, str]) -> dict[str, str]:
    chains = {span_id: _chain(span_id, links) for span_id in by_id}
    raised = [s for s in by_id if _raised(by_id[s])]
    candidates = sorted(
        raised or list(by_id),
        key=lambda s: (-len(chains[s]), int(by_id[s].get("start_time_unix_nano") or 0), s),
    )
    origin_of: dict[str, str] = {}
    for candidate in candidates:
        if candidate in origin_of:
            continue  # a candidate below it already claimed it
        origin_of[candidate] = candidate
        for ancestor in chains[candidate]:
            if ancestor in by_id and ancestor not in origin_of:
                origin_of[ancestor] = candidate
    main = candidates[0]
    for span_id in by_id:
        origin_of.setdefault(span_id, main)
    return origin_of


async def collect(
    backends: Backends, span_filter: str, window: Window, cap: int = SPAN_CAP
) -> tuple[list[Group], int, bool]:
    """(incidents by count, error spans read, capped?) for the newest `cap` error spans.

    Each group is an origin signature; the error spans that only propagate it (callers'
    5xx, framework spans) are counted in its `echoes`, not listed as incidents of their own.
    """
    columns = ", ".join([
        "_time", "trace_id", "span_id", "parent_span_id", "start_time_unix_nano", "name",
        logsql_field(SERVICE), "status_message", *exception_columns("type", "message"),
        logsql_field(SPAN_ATTR + "code.*"), logsql_field(SPAN_ATTR + "http.response.status_code"),
        logsql_field(SPAN_ATTR + "http.status_code"),
    ])  # fmt: skip
    rows = await backends.traces.query(f"{span_filter} | fields {columns}", window, limit=cap + 1)
    capped = len(rows) > cap
    rows.sort(key=lambda r: store_time_ns(r.get("_time", "")), reverse=True)
    rows = rows[:cap]
    origin_of = origins(rows, await parent_links(backends, rows, window))
    by_span = {r.get("span_id", ""): r for r in rows}
    groups: dict[tuple[str, str, str | None, str], Group] = {}
    for row in rows:
        origin = by_span.get(origin_of.get(row.get("span_id", ""), ""), row)
        key, raw = signature(origin)
        group = groups.get(key)
        if group is None:
            example = clip(raw, TEMPLATE_CHARS) if raw else None
            group = groups[key] = Group(*key, sample=origin, example=example)
        if origin is row:
            group.add(row)
        else:
            echo = signature(row)[0]
            group.echoes[echo] = group.echoes.get(echo, 0) + 1
    incidents = [g for g in groups.values() if g.count]
    incidents.sort(key=lambda g: (-g.count, -sum(g.echoes.values()), g.label))
    return incidents, len(rows), capped


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
        f"{', '.join(exception_columns('stacktrace'))}"
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
        stack = last_exception(row)[2]
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
                store_time_ns(r.get("_time", "")),
            ))  # fmt: skip
            lines[g.sample.get("span_id", "")] = clip(best["_msg"])
    return stacks, lines, warnings


def _time(nanos: int) -> str:
    return rfc3339_ns(nanos) if nanos else ""


def echoes(group: Group) -> list[EchoSignature]:
    """The signatures that only propagate this one, most frequent first (bounded)."""
    items = sorted(group.echoes.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
    return [
        EchoSignature(service=s, operation=o, exception_type=e, message=m, count=n)
        for (s, o, e, m), n in items[:MAX_ECHOES]
    ]


def to_signature(g: Group, stacks: dict[str, str], log_lines: dict[str, str]) -> ErrorSignature:
    span_id = g.sample.get("span_id", "")
    return ErrorSignature(
        service=g.service,
        operation=g.operation,
        exception_type=g.exception_type,
        message=g.template,
        example=g.example if g.example and g.example != g.template else None,
        count=g.count,
        first_seen=_time(g.first),
        last_seen=_time(g.last),
        sample_trace_id=g.sample.get("trace_id", ""),
        sample_log=log_lines.get(span_id),
        code_location=code_location(g.sample) or stack_location(stacks.get(span_id, "")),
        seen_upstream_as=echoes(g),
        seen_upstream_omitted=max(0, len(g.echoes) - MAX_ECHOES),
    )


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
    groups, read, capped = await collect(backends, error_spans_of(service), window)
    shown = groups[:limit]
    stacks, log_lines, warnings = await _details(backends, shown, window)
    signatures = [to_signature(g, stacks, log_lines) for g in shown]
    hint = None
    if not signatures:
        who = f" of service {service!r}" if service else ""
        hint = f"No error spans{who} in {window.describe()}; widen `since` or check list_services."
        if service:
            hint = await unknown_service_hint(backends, service, window, f"No error spans{who}")
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
