"""correlate_trace: one trace (span tree, each span's logs, RED of its services) that always
fits a token budget and never hides the part that matters.

The trace's time range is looked up first (a stats query), so spans and logs are then read
from exactly that range. The root, every error span with its ancestors and the critical path
are placed first, the rest by self time; repeated siblings (an N+1) collapse into one row, and
what is left out is summarised by service + operation, so nothing disappears without a word.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather, gather_all
from obs_mcp.core.fields import (
    BRIEF_VALUE_CHARS,
    KIND_NAMES,
    LOG_SERVICE,
    SERVICE,
    SPAN_ATTR,
    SPAN_ATTR_BRIEF,
    SPAN_ATTR_NOISE,
    SPAN_ATTR_PREFIXES,
    SPAN_ATTR_TWINS,
    clip,
    clip_tail,
    last_exception,
)
from obs_mcp.core.links import trace_links
from obs_mcp.core.red import red_snapshot
from obs_mcp.core.requests import HTTP_STATUS_KEYS, error_spans
from obs_mcp.core.trace_tree import Span, Tree, ancestors, build, collapse_repeats
from obs_mcp.errors import InvalidArgument, QueryRejected, StoreError
from obs_mcp.models import (
    CorrelatedTrace,
    LatencySummary,
    OmittedSpans,
    RedSnapshot,
    RepeatedCall,
    RepeatSummary,
    SlowSpan,
    SpanLog,
    SpanNode,
    compact_json,
)
from obs_mcp.queries import logsql_exact, logsql_field, logsql_in, normalize_trace_id
from obs_mcp.timeparse import (
    Window,
    from_unix_nanos,
    resolve_window,
    rfc3339,
    rfc3339_ns,
    store_time_ns,
)

DEFAULT_TOKENS = 8000
MAX_TOKENS = 25_000  # Claude Code's default cap on one MCP answer
MIN_TOKENS = 1000
CHARS_PER_TOKEN = 4
# Where a trace id is looked up without a window: the last hour first, then wider, up to the
# stores' 7-day retention (a stats query each, so even the widest reads no rows).
LOOKUP_STEPS = ("1h", "1d", "7d")
SPAN_FETCH_CAP = 10_000  # skeleton rows (~500 bytes each) inside the 8 MiB answer cap
LOG_FETCH_CAP = 5_000
FULL, BRIEF, WARN_LOGS, BARE = range(4)  # renderings of a row, richest first
MAX_ERROR_SPANS = 50  # error spans placed first (with their ancestors); the rest are summarised
FULL_ERROR_SPANS = 10  # of those, shown with all attributes and the stack trace
LOGS_PER_SPAN = 10
LOG_CHARS = 500
MAX_OMITTED_GROUPS = 20
WARNING_CHARS = 160  # the "error spans did not fit" warning, when it has to be said
TOP_SELF_TIME = 5
TOP_REPEATED = 5
RED_MAX_SERVICES = 10
RED_AROUND = timedelta(minutes=5)
LINK_MARGIN = timedelta(minutes=1)
SKELETON = [
    "span_id", "parent_span_id", "name", SERVICE, "kind", "status_code", "status_message",
    "duration", "start_time_unix_nano", "end_time_unix_nano", *HTTP_STATUS_KEYS,
    *(SPAN_ATTR + key for key in SPAN_ATTR_BRIEF),
]  # fmt: skip


def _ms(nanos: int) -> float:
    return round(nanos / 1e6, 3)


# ---- attributes and logs ----------------------------------------------------------------------
def span_attributes(row: dict[str, str], full: bool) -> dict[str, str]:
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
    # the last exception event -> exception.* attributes
    for part, raw in zip(("type", "message", "stacktrace"), last_exception(row), strict=True):
        if raw:
            attrs[f"exception.{part}"] = clip_tail(raw) if part == "stacktrace" else clip(raw)
    return attrs


def _rank(severity: str) -> int:
    """0 error, 1 warning, 2 anything else."""
    upper = severity.upper()
    if upper.startswith(("ERROR", "FATAL", "CRIT")):
        return 0
    return 1 if upper.startswith("WARN") else 2


def _severity_rank(row: dict[str, str]) -> int:
    return _rank(row.get("severity_text") or row.get("severity") or "")


def _log_rank(log: SpanLog) -> int:
    return _rank(log.severity or "")


def _to_log(row: dict[str, str]) -> SpanLog:
    return SpanLog(
        time=rfc3339_ns(store_time_ns(row["_time"])) if row.get("_time") else "",
        severity=row.get("severity_text") or row.get("severity"),
        message=clip(row.get("_msg", ""), LOG_CHARS),
        service=row.get(LOG_SERVICE),
        span_id=row.get("span_id") or None,
    )


def select_logs(rows: list[dict[str, str]], max_logs: int) -> list[dict[str, str]]:
    """Errors and warnings first, then the rest; in time order (integer nanoseconds)."""
    chosen = sorted(rows, key=lambda r: (_severity_rank(r), store_time_ns(r.get("_time", ""))))
    return sorted(chosen[:max_logs], key=lambda r: store_time_ns(r.get("_time", "")))


# ---- the answer within a budget ---------------------------------------------------------------
@dataclass
class _View:
    """Renders spans of one trace as answer rows (full details only for root and errors)."""

    tree: Tree
    full_rows: dict[str, dict[str, str]]
    logs_by_span: dict[str, list[SpanLog]]
    t0: int
    full_errors: set[str]

    def levels(self, span: Span) -> tuple[int, ...]:
        """The renderings to try, richest first (see `node`)."""
        detail = span.parent is None or span.span_id in self.full_errors
        return (FULL, BRIEF, WARN_LOGS, BARE) if detail else (BRIEF, WARN_LOGS, BARE)

    def node(self, span: Span, level: int) -> SpanNode:
        """FULL: every telling attribute and the stack trace; BRIEF: a few attributes; then
        only its WARN/ERROR logs; BARE: no logs."""
        detailed = level == FULL
        row = self.full_rows.get(span.span_id, span.row) if detailed else span.row
        logs = self.logs_of(span)[:LOGS_PER_SPAN] if level <= BRIEF else []
        if level == WARN_LOGS:
            logs = [log for log in self.logs_of(span) if _log_rank(log) < 2][:LOGS_PER_SPAN]
        members = span.repeat
        repeat = None
        if members:
            durations = [m.duration for m in members]
            repeat = RepeatSummary(
                count=len(members),
                total_ms=_ms(sum(durations)),
                min_ms=_ms(min(durations)),
                max_ms=_ms(max(durations)),
            )
        message = span.row.get("status_message")
        return SpanNode(
            span_id=span.span_id,
            parent_span_id=span.parent.span_id if span.parent else span.parent_id,
            depth=span.depth,
            service=span.service or None,
            operation=span.operation,
            kind=KIND_NAMES.get(span.row.get("kind", "0"), span.row.get("kind", "")),
            start_offset_ms=_ms(span.start - self.t0) if span.start and self.t0 else 0.0,
            duration_ms=_ms(span.duration),
            self_ms=_ms(sum(m.self_ns for m in members) if members else span.self_ns),
            critical=span.critical or any(m.critical for m in members),
            status="error" if span.error else "ok",
            status_message=clip(message) if message else None,
            repeat=repeat,
            # BARE rows of healthy spans are structure only: room for every error span
            attributes=span_attributes(row, full=detailed) if level != BARE or span.error else {},
            logs=logs,
        )

    def logs_of(self, span: Span) -> list[SpanLog]:
        """Its own logs; a repeat row also carries its members' (with their span ids)."""
        own = self.logs_by_span.get(span.span_id, [])
        if not span.repeat:
            return own
        members = [
            log.model_copy(update={"span_id": m.span_id})
            for m in span.repeat[1:]
            for log in self.logs_by_span.get(m.span_id, [])
        ]
        return sorted([*own, *members], key=lambda log: store_time_ns(log.time))


@dataclass
class _Plan:
    """Rows chosen so far, in the order chosen (an ancestor always before its descendants)."""

    order: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    level: dict[str, int] = field(default_factory=dict)
    used: int = 0

    def add(self, span: Span, size: int, level: int) -> None:
        self.order.append(span.span_id)
        self.sizes[span.span_id] = size
        self.level[span.span_id] = level
        self.used += size

    def drop_last(self) -> None:
        span_id = self.order.pop()
        self.used -= self.sizes.pop(span_id)
        self.level.pop(span_id)


def _size(model: SpanNode | SpanLog | OmittedSpans) -> int:
    return len(compact_json(model)) + 1  # +1: the comma between list items


def _must(tree: Tree, main: Span) -> list[Span]:
    """The main root, then each error span (tree order, capped) after its ancestors."""
    must: list[Span] = [main]
    for span in [s for s in tree.visible() if s.error][:MAX_ERROR_SPANS]:
        must += [*reversed(ancestors(span)), span]
    return list(dict.fromkeys(must))


def _by_value(tree: Tree) -> list[Span]:
    """The critical path first, then spans with logs, then by self time (repeat rows by all)."""

    def self_time(span: Span) -> int:
        return sum(m.self_ns for m in span.repeat) if span.repeat else span.self_ns

    return sorted(
        tree.visible(),
        key=lambda s: (not (s.critical or any(m.critical for m in s.repeat)), -self_time(s)),
    )


def _omitted_bound(tree: Tree) -> int:
    """The most characters `omitted` can take, whatever is shown: its groups are capped, so
    the largest MAX_OMITTED_GROUPS of them plus the "(other)" row bound it."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for span in tree.spans:
        counts[(span.service, span.operation)] += 1
    total_ms = _ms(sum(s.duration for s in tree.spans))
    sizes = sorted(
        (_size(OmittedSpans(service=svc, operation=op, count=n, errors=n, total_ms=total_ms))
         for (svc, op), n in counts.items()),
        reverse=True,
    )  # fmt: skip
    other = OmittedSpans(
        service="(other)", operation=f"{len(counts)} more operations",
        count=len(tree.spans), errors=len(tree.spans), total_ms=total_ms,
    )  # fmt: skip
    return sum(sizes[:MAX_OMITTED_GROUPS]) + _size(other) + len('"omitted":[],')


def _omitted(tree: Tree, shown: set[str]) -> list[OmittedSpans]:
    """Every span neither shown nor counted by a shown repeat row, by service + operation."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for span in tree.spans:
        head = span.collapsed_into
        if span.span_id in shown or (head is not None and head.span_id in shown):
            continue
        entry = groups[(span.service, span.operation)]
        entry[0] += 1
        entry[1] += int(span.error)
        entry[2] += span.duration
    items = sorted(groups.items(), key=lambda kv: (-kv[1][2], kv[0]))
    out = [
        OmittedSpans(service=s, operation=o, count=c, errors=e, total_ms=_ms(d))
        for (s, o), (c, e, d) in items[:MAX_OMITTED_GROUPS]
    ]
    if rest := items[MAX_OMITTED_GROUPS:]:
        out.append(
            OmittedSpans(
                service="(other)",
                operation=f"{len(rest)} more operations",
                count=sum(v[0] for _, v in rest),
                errors=sum(v[1] for _, v in rest),
                total_ms=_ms(sum(v[2] for _, v in rest)),
            )
        )
    return out


def latency_summary(tree: Tree, repeats: list[Span]) -> LatencySummary:
    """Where the time went: the spans with most self time, and repeated calls (N+1)."""

    def self_time(span: Span) -> int:
        return sum(m.self_ns for m in span.repeat) if span.repeat else span.self_ns

    top = sorted(tree.visible(), key=lambda s: (-self_time(s), s.span_id))[:TOP_SELF_TIME]
    heavy = sorted(repeats, key=lambda s: -sum(m.duration for m in s.repeat))[:TOP_REPEATED]
    return LatencySummary(
        top_self_time=[
            SlowSpan(
                span_id=s.span_id,
                service=s.service,
                operation=s.operation + (f" ×{len(s.repeat)}" if s.repeat else ""),
                self_ms=_ms(self_time(s)),
                critical=s.critical or any(m.critical for m in s.repeat),
            )
            for s in top
        ],
        repeated=[
            RepeatedCall(
                service=s.service,
                operation=s.operation,
                parent_span_id=s.parent.span_id if s.parent else "",
                count=len(s.repeat),
                total_ms=_ms(sum(m.duration for m in s.repeat)),
                min_ms=_ms(min(m.duration for m in s.repeat)),
                max_ms=_ms(max(m.duration for m in s.repeat)),
            )
            for s in heavy
        ],
    )


def fit(
    result: CorrelatedTrace, view: _View, main: Span | None, max_spans: int, logs: list[SpanLog]
) -> None:
    """Fill spans, omitted and orphan_logs in priority order within result.budget_tokens.

    Must-rows (root, errors, their ancestors) degrade to brief attributes before they are
    left out; other rows come with any missing ancestors or not at all. The whole answer is
    then measured as sent and rows are taken back, last chosen first, until it fits.
    """
    tree, budget = view.tree, result.budget_tokens * CHARS_PER_TOKEN
    plan = _Plan()
    room = budget - len(compact_json(result)) - _omitted_bound(tree) - WARNING_CHARS
    must = _must(tree, main) if main is not None else []
    # Each must-row gets the richest rendering that still leaves room for all the others in
    # their lean form (an error span with its own warnings/errors, an ancestor bare), so
    # detail never pushes an error span out.
    lean = {s.span_id: _size(view.node(s, WARN_LOGS if s.error else BARE)) for s in must}
    barest = (
        lean if sum(lean.values()) <= room else {s.span_id: _size(view.node(s, BARE)) for s in must}
    )
    reserved = sum(barest.values())
    for span in must:
        reserved -= barest[span.span_id]
        level, size = BARE, _size(view.node(span, BARE))
        for candidate in view.levels(span):
            rich = _size(view.node(span, candidate))
            if plan.used + rich + reserved <= room:
                level, size = candidate, rich
                break
        if plan.order and plan.used + size > room:  # max_spans never drops these
            continue
        plan.add(span, size, level)
    for span in _by_value(tree):
        if span.span_id in plan.sizes:
            continue
        rows = [a for a in reversed(ancestors(span)) if a.span_id not in plan.sizes] + [span]
        if len(plan.order) + len(rows) > max_spans:
            continue
        for level in (BRIEF, BARE):
            sizes = [_size(view.node(s, level)) for s in rows]
            if plan.used + sum(sizes) <= room:
                for s, size in zip(rows, sizes, strict=True):
                    plan.add(s, size, level)
                break
    warnings = list(result.warnings)
    while True:
        shown = set(plan.order)
        result.spans = [
            view.node(s, plan.level[s.span_id]) for s in tree.spans if s.span_id in shown
        ]
        result.omitted = _omitted(tree, shown)
        _counts(result, tree, shown)
        result.orphan_logs = []
        left_out = sum(1 for x in must if x.error and x.span_id not in shown)
        result.warnings = warnings + (
            [f"{left_out} error spans did not fit the {result.budget_tokens}-token budget "
             "(counted under `omitted`): raise max_tokens to see them."] if left_out else []
        )  # fmt: skip
        used = len(compact_json(result))
        for log in (log for log in logs if log.span_id not in shown):
            if used + _size(log) > budget:
                break
            result.orphan_logs.append(log)
            used += _size(log)
        _counts(result, tree, shown)
        if len(compact_json(result)) <= budget or not plan.order:
            break
        plan.drop_last()


def _counts(result: CorrelatedTrace, tree: Tree, shown: set[str]) -> None:
    """The bookkeeping fields, and the hint that explains them."""
    represented = sum(len(s.repeat) - 1 for s in tree.spans if s.repeat and s.span_id in shown)
    result.spans_returned = len(result.spans)
    result.spans_omitted = max(0, result.span_count - result.spans_returned - represented)
    result.logs_returned = sum(len(n.logs) for n in result.spans) + len(result.orphan_logs)
    result.logs_omitted = max(0, result.log_count - result.logs_returned)
    result.hint = None
    if result.spans_omitted:
        result.hint = (
            f"{result.spans_omitted} of {result.span_count} spans are summarised under "
            "`omitted` (root, error spans with their ancestors and the critical path come "
            "first); raise max_tokens (up to 25000) to see more."
        )


# ---- reading the trace ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Range:
    count: int
    first: int  # unix ns of the earliest _time (a span's end, a log's time)
    last: int

    def window(self) -> Window:
        """Exactly the rows' own times (the API's end is exclusive: one µs past the last)."""
        return Window(from_unix_nanos(self.first), from_unix_nanos(self.last + 1000))


async def _locate(backends: Backends, store: str, selector: str, window: Window) -> _Range:
    """Count a trace's rows and their time range with one stats query (no rows read)."""
    client = backends.traces if store == "traces" else backends.logs
    rows = await client.query(
        f"{selector} | stats count() n, min(_time) first, max(_time) last", window
    )
    row = rows[0] if rows else {}
    count = int(row.get("n") or 0)
    if not count:
        return _Range(0, 0, 0)
    return _Range(count, store_time_ns(row.get("first", "")), store_time_ns(row.get("last", "")))


async def _locate_both(
    backends: Backends, spans_sel: str, logs_sel: str, window: Window
) -> list[_Range | StoreError]:
    return await gather(
        lambda: _locate(backends, "traces", spans_sel, window),
        lambda: _locate(backends, "logs", logs_sel, window),
    )


async def _read_spans(
    backends: Backends, selector: str, located: _Range, warnings: list[str]
) -> list[dict[str, str]]:
    """Every span's skeleton; above the cap, the root and error spans are read on their own
    so they are there whatever the cap kept."""
    window = located.window()
    fields = ", ".join(logsql_field(f) for f in SKELETON)
    cap = SPAN_FETCH_CAP
    try:
        rows = await backends.traces.query(f"{selector} | fields {fields}", window, limit=cap)
    except QueryRejected:  # wide rows: read fewer rather than fail
        cap //= 4
        rows = await backends.traces.query(f"{selector} | fields {fields}", window, limit=cap)
    if located.count <= cap:
        return rows
    roots_q = f'{selector} {logsql_field("parent_span_id")}:"" | fields {fields}'
    errors_q = f"{selector} ({error_spans()}) | fields {fields}"
    roots, errors = await gather_all(
        lambda: backends.traces.query(roots_q, window, limit=100),
        lambda: backends.traces.query(errors_q, window, limit=MAX_ERROR_SPANS * 4),
    )
    warnings.append(
        f"trace has {located.count} spans; {cap} were read (root and error spans always): "
        "the tree, `omitted` and `latency` are of those."
    )
    seen = {r.get("span_id") for r in rows}
    return rows + [r for r in (*roots, *errors) if r.get("span_id") not in seen]


async def _read_full(
    backends: Backends, selector: str, span_ids: list[str], window: Window
) -> dict[str, dict[str, str]]:
    if not span_ids:
        return {}
    rows = await backends.traces.query(
        f"{selector} {logsql_in('span_id', span_ids)}", window, limit=len(span_ids) * 2
    )
    return {r["span_id"]: r for r in rows if r.get("span_id")}


async def _red_around(
    backends: Backends, services: list[str], t0: int, t1: int
) -> tuple[list[RedSnapshot], list[str]]:
    """RED of each service in the trace over the 10 minutes around it."""
    now = datetime.now(UTC)
    window = Window(from_unix_nanos(t0) - RED_AROUND, min(now, from_unix_nanos(t1) + RED_AROUND))
    if window.start >= window.end:
        return [], []
    picked = services[:RED_MAX_SERVICES]
    outcomes = await gather(*[
        (lambda svc=svc: red_snapshot(backends, svc, window)) for svc in picked
    ])  # fmt: skip
    snapshots = [o for o in outcomes if isinstance(o, RedSnapshot)]
    warnings = [f"RED snapshot unavailable: {o}" for o in outcomes if isinstance(o, StoreError)]
    return snapshots, warnings


def _not_found(trace_id: str, window: Window, warnings: list[str]) -> CorrelatedTrace:
    return CorrelatedTrace(
        trace_id=trace_id,
        found=False,
        warnings=warnings,
        hint=(
            f"No spans or logs carry this trace_id in {window.describe()}. Pass since/start/end "
            "if it is older (data is kept 7 days); find ids with search_traces(service=..., "
            "errors_only=True) or from query_logs rows."
        ),
    )


async def correlate_trace(
    backends: Backends,
    trace_id: str,
    max_spans: int = 500,
    max_logs: int = 100,
    max_tokens: int = DEFAULT_TOKENS,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> CorrelatedTrace:
    trace_id = normalize_trace_id(trace_id)
    if not 1 <= max_spans <= 5000:
        raise InvalidArgument(f"max_spans={max_spans}: choose 1..5000")
    if not 0 <= max_logs <= 1000:
        raise InvalidArgument(f"max_logs={max_logs}: choose 0..1000")
    if not MIN_TOKENS <= max_tokens <= MAX_TOKENS:
        raise InvalidArgument(f"max_tokens={max_tokens}: choose {MIN_TOKENS}..{MAX_TOKENS}")
    spans_sel = f"{logsql_exact('trace_id', trace_id)} span_id:*"
    logs_sel = logsql_exact("trace_id", trace_id)
    explicit = any(v not in (None, "") for v in (since, start, end))
    for step in (since,) if explicit else LOOKUP_STEPS:
        lookup = resolve_window(step, start, end, default_since=LOOKUP_STEPS[-1])
        span_range, log_range = await _locate_both(backends, spans_sel, logs_sel, lookup)
        if any(isinstance(r, StoreError) or r.count for r in (span_range, log_range)):
            break
    warnings: list[str] = []
    if isinstance(log_range, StoreError):
        warnings.append(f"logs unavailable: {log_range}")
        log_range = _Range(0, 0, 0)
    if isinstance(span_range, StoreError):
        if not log_range.count:
            raise span_range  # a span store that is down is not "no such trace"
        warnings.append(f"spans unavailable (showing logs only): {span_range}")
        span_range = _Range(0, 0, 0)
    if not span_range.count and not log_range.count:
        return _not_found(trace_id, lookup, warnings)
    span_rows, log_rows = await gather(
        lambda: (
            _read_spans(backends, spans_sel, span_range, warnings)
            if span_range.count
            else _nothing()
        ),
        lambda: (
            backends.logs.query(logs_sel, log_range.window(), limit=LOG_FETCH_CAP)
            if log_range.count
            else _nothing()
        ),
    )
    for outcome, what in ((span_rows, "spans"), (log_rows, "logs")):
        if isinstance(outcome, StoreError):
            warnings.append(f"{what} unavailable: {outcome}")
    span_rows = span_rows if isinstance(span_rows, list) else []
    log_rows = log_rows if isinstance(log_rows, list) else []
    if log_range.count > LOG_FETCH_CAP:
        warnings.append(f"trace has {log_range.count} log lines; {LOG_FETCH_CAP} were read")
    return await _assemble(
        backends, trace_id, spans_sel, span_rows, log_rows, span_range, log_range,
        max_spans, max_logs, max_tokens, warnings,
    )  # fmt: skip


def _around(*ranges: _Range) -> Window:
    """The trace's rows' times, a minute either side: the links' view."""
    found = [r for r in ranges if r.count]
    first = min(r.first for r in found)
    last = max(r.last for r in found)
    return Window(from_unix_nanos(first) - LINK_MARGIN, from_unix_nanos(last) + LINK_MARGIN)


async def _nothing() -> list[dict[str, str]]:
    return []


async def _assemble(
    backends: Backends,
    trace_id: str,
    spans_sel: str,
    span_rows: list[dict[str, str]],
    log_rows: list[dict[str, str]],
    span_range: _Range,
    log_range: _Range,
    max_spans: int,
    max_logs: int,
    max_tokens: int,
    warnings: list[str],
) -> CorrelatedTrace:
    tree = build(span_rows)
    repeats = collapse_repeats(tree)
    result = CorrelatedTrace(
        trace_id=trace_id,
        found=True,
        warnings=warnings,
        span_count=max(span_range.count, len(tree.spans)),
        error_count=sum(1 for s in tree.spans if s.error),
        log_count=max(log_range.count, len(log_rows)),
        budget_tokens=max_tokens,
        links=trace_links(
            backends.settings, trace_id, _around(span_range, log_range), bool(log_rows)
        ),
    )
    result.services = sorted(
        {s.service for s in tree.spans if s.service}
        | {r[LOG_SERVICE] for r in log_rows if r.get(LOG_SERVICE)}
    )
    if not tree.spans:
        result.warnings.append("logs carry this trace_id but no spans were found")
        logs = [_to_log(r) for r in select_logs(log_rows, max_logs)]
        fit(result, _View(tree, {}, {}, 0, set()), None, max_spans, logs)
        return result
    t0 = min(s.start for s in tree.spans if s.start) if any(s.start for s in tree.spans) else 0
    t1 = max(s.end for s in tree.spans)
    main = max(tree.roots, key=lambda s: (s.duration, -s.start))
    errors = [s for s in tree.visible() if s.error][:FULL_ERROR_SPANS]
    detailed = [main.span_id, *(s.span_id for s in errors)]
    full, red = await gather(
        lambda: _read_full(backends, spans_sel, detailed, span_range.window()),
        lambda: _red_around(backends, result.services, t0, t1),
    )
    if isinstance(full, StoreError):
        result.warnings.append(f"span details unavailable: {full}")
        full = {}
    if isinstance(red, tuple):
        result.red, red_warnings = red
        result.warnings += red_warnings
    logs = [_to_log(r) for r in select_logs(log_rows, max_logs)]
    by_span: dict[str, list[SpanLog]] = defaultdict(list)
    orphans: list[SpanLog] = []
    for log in logs:
        if log.span_id in tree.by_id:
            by_span[log.span_id or ""].append(log.model_copy(update={"span_id": None}))
        else:
            orphans.append(log)
    view = _View(tree, full, by_span, t0, {s.span_id for s in errors})
    result.start_time = rfc3339(from_unix_nanos(t0)) if t0 else None
    result.duration_ms = _ms(t1 - t0) if t0 else None
    result.latency = latency_summary(tree, repeats)
    # Logs of spans that end up neither shown nor in a shown repeat row go to orphan_logs.
    hidden_logs = [
        log.model_copy(update={"span_id": span_id})
        for span_id, items in by_span.items()
        for log in items
        if tree.by_id[span_id].collapsed_into is None
    ]
    fit(result, view, main, max_spans, [*orphans, *hidden_logs])
    return result
