"""Known telemetry for the pictures (time series, terminal trends, report, dashboards): a
before/after pair whose every per-bucket figure is computed here from the plan.

One service, two operations, 10-second buckets: six baseline buckets where every bucket
has 2 failing orders (KeyError 'usd', with an ERROR log), then six current buckets
without errors, then one slow trace (a db call then a render: its critical path is known).
Each GET also carries a nested SERVER span of the same service (a second instrumentation),
which must not count as a request.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from tests.foreign_shapes import nearest_rank_ms, percentiles_ms
from tests.known_telemetry import wait_for_count
from tests.otlp_direct import (
    CLIENT,
    ERROR,
    INTERNAL,
    SERVER,
    LogSpec,
    SpanSpec,
    new_id,
    send_logs,
    send_spans,
)

MS = 1_000_000
S = 1_000_000_000
STEP_S = 10
BUCKETS_PER_SIDE = 6
GET, POST = "GET /api/items", "POST /api/order"
GETS_PER_BUCKET, POSTS_PER_BUCKET, ERRORS_PER_BUCKET = 10, 6, 2
KEY_ERROR = ("KeyError", "'usd'", 'Traceback:\n  File "/app/pricing.py", line 73, in price\n')
SLOW_MS = 900
SLOW_DB_MS, SLOW_RENDER_MS = 600, 200
SVC = '"resource_attr:service.name"'
__all__ = ["Edges", "Trend", "emit_edges", "emit_trend", "nearest_rank_ms"]


@dataclass
class Bucket:
    start: int  # unix ns, aligned to STEP_S
    durations: list[int] = field(default_factory=list)  # ns, every request
    errors: int = 0
    by_operation: dict[str, list[int]] = field(default_factory=dict)
    errors_by_operation: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.durations)

    def percentiles(self) -> dict[str, float]:
        return percentiles_ms(self.durations)


@dataclass
class Trend:
    service: str
    base: int  # first bucket start, unix ns
    buckets: list[Bucket]
    error_trace_ids: list[str]
    slow_trace_id: str
    spans: int  # rows the store holds for the service
    logs: int

    @property
    def baseline(self) -> tuple[int, int]:
        """[start, end) of the baseline side, unix ns."""
        return self.base, self.base + BUCKETS_PER_SIDE * STEP_S * S

    @property
    def current(self) -> tuple[int, int]:
        return self.baseline[1], self.baseline[1] + BUCKETS_PER_SIDE * STEP_S * S

    def side(self, which: str) -> list[Bucket]:
        return (
            self.buckets[:BUCKETS_PER_SIDE]
            if which == "baseline"
            else self.buckets[BUCKETS_PER_SIDE:]
        )

    def durations(self, which: str) -> list[int]:
        return [d for b in self.side(which) for d in b.durations]

    def errors(self, which: str) -> int:
        return sum(b.errors for b in self.side(which))


def _request(
    service: str, op: str, start: int, duration: int, failed: bool, nested: bool
) -> tuple[list[SpanSpec], list[LogSpec], str]:
    trace = new_id(16)
    root = SpanSpec(service, op, trace, start, start + duration, SERVER,
                    attributes={"http.route": op.split()[1],
                                "http.response.status_code": 500 if failed else 200})  # fmt: skip
    spans, logs = [root], []
    if nested:  # a framework span inside the middleware's: the same request
        spans.append(SpanSpec(service, op, trace, start + MS // 10, start + duration - MS // 10,
                              SERVER, parent=root.span_id))  # fmt: skip
    if failed:
        root.status, root.status_message, root.exception = ERROR, "KeyError", KEY_ERROR
        logs.append(LogSpec(service, start + duration - MS, "price lookup failed: KeyError 'usd'",
                            "ERROR", trace, root.span_id))  # fmt: skip
    return spans, logs, trace.hex()


def emit_trend(otlp_http_url: str, vt_url: str, vl_url: str, prefix: str = "pic") -> Trend:
    service = f"{prefix}-{uuid.uuid4().hex[:10]}"
    step = STEP_S * S
    base = (time.time_ns() - 20 * 60 * S) // step * step
    spans: list[SpanSpec] = []
    logs: list[LogSpec] = []
    buckets: list[Bucket] = []
    errors: list[str] = []
    for index in range(2 * BUCKETS_PER_SIDE):
        bucket = Bucket(base + index * step)
        failing = ERRORS_PER_BUCKET if index < BUCKETS_PER_SIDE else 0
        plan = [(GET, (5 + i) * MS, False) for i in range(GETS_PER_BUCKET)]
        plan += [(POST, 20 * MS + i * MS // 2, False) for i in range(POSTS_PER_BUCKET - failing)]
        plan += [(POST, (100 + 10 * i) * MS, True) for i in range(failing)]
        for n, (op, duration, failed) in enumerate(plan):
            start = bucket.start + S + n * 400 * MS  # ends well inside the bucket
            made, said, trace = _request(service, op, start, duration, failed, op == GET)
            spans += made
            logs += said
            bucket.durations.append(duration)
            bucket.by_operation.setdefault(op, []).append(duration)
            if failed:
                bucket.errors += 1
                bucket.errors_by_operation[op] = bucket.errors_by_operation.get(op, 0) + 1
                errors.append(trace)
        buckets.append(bucket)
    # the slow trace, in the last current bucket: root -> db (600 ms) then render (200 ms)
    last = buckets[-1]
    start = last.start + 2 * S + 500 * MS
    trace = new_id(16)
    root = SpanSpec(service, GET, trace, start, start + SLOW_MS * MS, SERVER,
                    attributes={"http.route": "/api/items", "http.response.status_code": 200})  # fmt: skip
    db = SpanSpec(service, "SELECT items", trace, start + 10 * MS,
                  start + (10 + SLOW_DB_MS) * MS, CLIENT, parent=root.span_id,
                  attributes={"db.system": "postgresql"})  # fmt: skip
    render = SpanSpec(service, "render", trace, start + 650 * MS,
                      start + (650 + SLOW_RENDER_MS) * MS, INTERNAL, parent=root.span_id)  # fmt: skip
    spans += [root, db, render]
    last.durations.append(SLOW_MS * MS)
    last.by_operation[GET].append(SLOW_MS * MS)
    send_spans(otlp_http_url, spans)
    send_logs(otlp_http_url, logs)
    wait_for_count(vt_url, f'{SVC}:="{service}"', len(spans), timeout=60)
    wait_for_count(vl_url, f'"service.name":="{service}"', len(logs), timeout=60)
    return Trend(service, base, buckets, errors, trace.hex(), len(spans), len(logs))


@dataclass
class Edges:
    """Requests placed around a window's and its buckets' edges, to the nanosecond."""

    service: str
    window: tuple[int, int]  # [start, end), unix ns, not on bucket edges
    requests: list[tuple[int, int, bool]]  # (start, end, failed) of every entry span

    def inside(self) -> list[tuple[int, int, bool]]:
        low, high = self.window
        return [r for r in self.requests if low <= r[1] < high]

    def by_bucket(self, step_s: int) -> dict[int, list[tuple[int, int, bool]]]:
        """Bucket start (ns) -> the requests ending in it and in the window."""
        out: dict[int, list[tuple[int, int, bool]]] = {}
        for r in self.inside():
            out.setdefault(r[1] // (step_s * S) * step_s * S, []).append(r)
        return out


def emit_edges(otlp_http_url: str, vt_url: str) -> Edges:
    """Long requests that start one bucket (or before the window) and end in the next, and
    requests ending 1 ns either side of both window ends and of a bucket edge."""
    service = f"edge-{uuid.uuid4().hex[:10]}"
    step = STEP_S * S
    base = (time.time_ns() - 20 * 60 * S) // step * step
    low, high = base + 3_500 * MS + 250 * 1000, base + 47_300 * MS + 125 * 1000  # µs-aligned
    plan: list[tuple[int, int, bool]] = []
    for i in range(12):  # 4 s each, starting 2 s before a bucket edge: they end in the next
        start = base + (i % 6) * step - 2 * S + i * 50 * MS
        plan.append((start, start + 4 * S + i * MS, i % 3 == 0))
    for edge in (low, high, base + 2 * step):  # the window's ends and one bucket edge
        for delta, failed in ((-1, True), (0, False), (1, True)):
            plan.append((edge + delta - (30 + delta) * MS, edge + delta, failed))
    plan.append((low - 9 * S, low + 2 * S, True))  # starts before the window, ends in it
    plan.append((high - 1 * S, high + 3 * S, False))  # starts in the window, ends after it
    spans: list[SpanSpec] = []
    for n, (start, end, failed) in enumerate(plan):
        trace = new_id(16)
        root = SpanSpec(service, GET if n % 2 else POST, trace, start, end, SERVER,
                        attributes={"http.response.status_code": 500 if failed else 200})  # fmt: skip
        if failed:
            root.status = ERROR
        nested = SpanSpec(service, root.name, trace, start + 1000, end - 1000, SERVER,
                          parent=root.span_id)  # fmt: skip
        spans += [root, nested]
    send_spans(otlp_http_url, spans)
    wait_for_count(vt_url, f'{SVC}:="{service}"', len(spans), timeout=60)
    return Edges(service, (low, high), plan)
