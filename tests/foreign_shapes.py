"""Telemetry shaped like other apps', with the figures each tool must give computed here from
what was emitted: two instrumentations per request, status UNSET on 5xx, 404s, an N+1 loop,
framework spans failing beside the real error, log lines microseconds apart, big traces and
50,000 log-normal request durations."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction

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
US = 1_000
PHIS = {"p50": Fraction(1, 2), "p95": Fraction(95, 100), "p99": Fraction(99, 100)}
KEY_ERROR = ("KeyError", "'usd'", 'Traceback:\n  File "/app/pricing.py", line 73, in price\n')


def nearest_rank_ms(durations: list[int], phi: Fraction) -> float:
    """The reference: the smallest duration that at least phi of them do not exceed."""
    ordered = sorted(durations)
    rank = max(1, -(-phi.numerator * len(ordered) // phi.denominator))
    return round(ordered[rank - 1] / MS, 3)


def percentiles_ms(durations: list[int]) -> dict[str, float]:
    return {name: nearest_rank_ms(durations, phi) for name, phi in PHIS.items()}


@dataclass(frozen=True)
class Request:
    end: int  # unix ns: the entry span's end, which places it in a window
    duration: int
    failed: bool


@dataclass
class Requests:
    """What one service handled: its entry spans, per operation."""

    by_operation: dict[str, list[Request]] = field(default_factory=dict)

    def add(self, operation: str, end: int, duration: int, failed: bool) -> None:
        self.by_operation.setdefault(operation, []).append(Request(end, duration, failed))

    @property
    def all(self) -> list[Request]:
        return [r for rows in self.by_operation.values() for r in rows]

    @property
    def total(self) -> int:
        return len(self.all)

    @property
    def errors(self) -> int:
        return sum(r.failed for r in self.all)


@dataclass
class TwoInstrumentations:
    """gateway -> api, where api runs ASGI middleware + a framework: two SERVER spans each."""

    gateway: str
    api: str
    api_requests: Requests
    gateway_requests: Requests
    key_errors: int
    unset_503: int
    not_found: int
    n_plus_one_trace: str
    n_plus_one_calls: int
    n_plus_one_total_ms: float
    n_plus_one_parent: str
    spans: int


def emit_two_instrumentations(otlp_http_url: str, requests: int = 300) -> TwoInstrumentations:
    run = uuid.uuid4().hex[:8]
    gateway, api = f"gw-{run}", f"api-{run}"
    rng = random.Random(11)
    base = time.time_ns() - 150_000 * MS
    specs: list[SpanSpec] = []
    api_requests, gw_requests = Requests(), Requests()
    counts = {"key": 0, "503": 0, "404": 0}
    n1_trace, n1_parent, n1_total = "", "", 0
    n1_calls = 25
    for i in range(requests):
        trace = new_id(16)
        start = base + i * 400 * MS
        duration = int(rng.lognormvariate(3.0, 0.8) * MS)  # ~20 ms median
        outcome = "key" if i % 10 == 3 else "503" if i % 20 == 7 else "404" if i % 12 == 5 else ""
        if outcome:
            counts[outcome] += 1
        status = {"key": 500, "503": 503, "404": 404}.get(outcome, 200)
        gw_status = 502 if status >= 500 else status
        root = SpanSpec(
            gateway,
            "GET /gw",
            trace,
            start,
            start + duration + 4 * MS,
            SERVER,
            attributes={"http.route": "/gw", "http.response.status_code": gw_status},
        )
        client = SpanSpec(gateway, "GET", trace, start + 1 * MS, start + duration + 3 * MS, CLIENT,
                          parent=root.span_id, attributes={"http.response.status_code": status},
                          status=ERROR if outcome == "key" else 0)  # fmt: skip
        outer_start = start + 2 * MS
        outer = SpanSpec(api, "GET", trace, outer_start, outer_start + duration, SERVER,
                         parent=client.span_id,
                         attributes={"http.response.status_code": status})  # fmt: skip
        inner = SpanSpec(api, "GET /items/{id}", trace, outer_start + 100 * US,
                         outer.end - 100 * US, SERVER, parent=outer.span_id,
                         attributes={"http.route": "/items/{id}",
                                     "http.response.status_code": status})  # fmt: skip
        if outcome == "key":
            inner.status, inner.status_message, inner.exception = ERROR, "'usd'", KEY_ERROR
        send = SpanSpec(api, "http send", trace, outer.end - 50 * US, outer.end - 10 * US,
                        INTERNAL, parent=outer.span_id,
                        status=ERROR if outcome == "key" else 0)  # fmt: skip
        specs += [root, client, outer, inner, send]
        calls = n1_calls if i == 1 else 2
        cursor = inner.start + 200 * US
        for _ in range(calls):
            db_ms = rng.randint(200, 900) * US  # 0.2 .. 0.9 ms, sequential
            db = SpanSpec(api, "SELECT items", trace, cursor, cursor + db_ms, CLIENT,
                          parent=inner.span_id, attributes={"db.system": "postgresql"})  # fmt: skip
            specs.append(db)
            if i == 1:
                n1_total += db_ms
            cursor += db_ms + 10 * US
        if i == 1:
            n1_trace, n1_parent = trace.hex(), inner.hex_id
        api_requests.add("GET", outer.end, duration, status >= 500)
        gw_requests.add("GET /gw", root.end, root.duration, gw_status >= 500)
    for i in range(10):  # called directly: the ASGI span is the root
        trace = new_id(16)
        start = base + i * 7 * MS + 3 * MS
        duration = (30 + i) * MS
        outer = SpanSpec(api, "POST", trace, start, start + duration, SERVER,
                         attributes={"http.response.status_code": 201})  # fmt: skip
        inner = SpanSpec(api, "POST /items", trace, start + 100 * US, start + duration - 100 * US,
                         SERVER, parent=outer.span_id)  # fmt: skip
        specs += [outer, inner]
        api_requests.add("POST", outer.end, duration, False)
    send_spans(otlp_http_url, specs)
    return TwoInstrumentations(
        gateway=gateway,
        api=api,
        api_requests=api_requests,
        gateway_requests=gw_requests,
        key_errors=counts["key"],
        unset_503=counts["503"],
        not_found=counts["404"],
        n_plus_one_trace=n1_trace,
        n_plus_one_calls=n1_calls,
        n_plus_one_total_ms=round(n1_total / MS, 3),
        n_plus_one_parent=n1_parent,
        spans=len(specs),
    )


@dataclass
class CloseLogs:
    service: str
    times: list[int]  # unix ns, in emission order (not time order)
    messages: list[str]


def emit_close_logs(otlp_http_url: str) -> CloseLogs:
    """Log lines 400 µs apart and on the trailing-zero trap: ...:07Z next to ...:06.999Z."""
    service = f"logs-{uuid.uuid4().hex[:8]}"
    second = (time.time_ns() // 1_000_000_000 - 30) * 1_000_000_000
    offsets = [0, -1 * MS, 400 * US, -500 * MS, 120 * MS, 123 * MS, 123_400 * US // 1000 * 1000,
               5 * US, 999_999_999]  # fmt: skip
    times = [second + o for o in offsets]
    messages = [f"line {i}" for i in range(len(times))]
    send_logs(otlp_http_url, [LogSpec(service, t, m) for t, m in zip(times, messages, strict=True)])
    return CloseLogs(service, times, messages)


@dataclass
class LogNormal:
    service: str
    requests: Requests


def emit_log_normal(otlp_http_url: str, count: int = 50_000) -> LogNormal:
    """`count` requests (roots) in two operations: log-normal durations, plus a plateau of
    identical durations big enough to need the percentile engine's finer split."""
    service = f"ln-{uuid.uuid4().hex[:8]}"
    rng = random.Random(5)
    base = time.time_ns() - 200_000 * MS
    requests = Requests()
    specs = []
    for i in range(count):
        operation = "GET /a" if i % 3 else "GET /b"
        duration = 12_345_678 if i % 2 == 0 else int(rng.lognormvariate(16.5, 1.1))
        failed = i % 97 == 0
        start = base + i * 3 * MS
        end = start + max(1, duration)
        status = ERROR if failed else 0
        specs.append(SpanSpec(service, operation, new_id(16), start, end, SERVER, status=status))
        requests.add(operation, end, max(1, duration), failed)
    send_spans(otlp_http_url, specs)
    return LogNormal(service, requests)


@dataclass
class WideTrace:
    trace_id: str
    span_count: int
    root_span_id: str
    error_span_ids: list[str]


def emit_wide_trace(
    otlp_http_url: str, spans: int = 2000, long_attributes: bool = False
) -> WideTrace:
    """A batch job: 2,000 spans with short names (or with long attributes), 5 failing."""
    service = f"batch-{uuid.uuid4().hex[:8]}"
    rng = random.Random(3)
    trace = new_id(16)
    base = time.time_ns() - 100_000 * MS
    root = SpanSpec(service, "job", trace, base, base + spans * MS + 10 * MS, SERVER)
    specs = [root]
    parents = [root]
    errors: list[str] = []
    for i in range(1, spans):
        parent = parents[rng.randrange(len(parents))] if i > 50 else root
        start = base + i * MS
        attrs: dict[str, str | int] = {}
        if long_attributes:
            attrs["db.statement"] = "SELECT " + ", ".join(f"column_{j}" for j in range(150))
            attrs["code.function"] = "x" * 300
        span = SpanSpec(service, f"s{i % 50}", trace, start, start + rng.randint(1, 900) * US,
                        INTERNAL, parent=parent.span_id, attributes=attrs)  # fmt: skip
        if i % 400 == 7:
            span.status, span.status_message = ERROR, f"row {i} rejected"
            span.exception = ("ValueError", f"row {i} rejected", "Traceback\n" + "  at x\n" * 200)
            errors.append(span.hex_id)
        specs.append(span)
        if i <= 50:
            parents.append(span)
    send_spans(otlp_http_url, specs)
    return WideTrace(trace.hex(), spans, root.hex_id, errors)


@dataclass
class NPlusOneRuns:
    service: str
    runs: dict[str, int]  # run id -> SELECTs per request
    newest_select_ms: dict[str, float]  # run id -> SELECT self time per request, newest 20


def emit_n_plus_one_runs(otlp_http_url: str, requests: int = 40) -> NPlusOneRuns:
    """Two runs of one handler (run.id on the resource, as `obs-mcp run` sets it): 2 SELECTs
    per request, then 25 (the N+1 a change brought in)."""
    service = f"cart-{uuid.uuid4().hex[:8]}"
    rng = random.Random(13)
    runs = {f"base-{service}": 2, f"cur-{service}": 25}
    newest: dict[str, float] = {}
    base = time.time_ns() - 100_000 * MS
    for offset, (run, selects) in enumerate(runs.items()):
        specs: list[SpanSpec] = []
        per_request: list[tuple[int, int]] = []  # (end, SELECT ns)
        for i in range(requests):
            trace = new_id(16)
            start = base + offset * 40_000 * MS + i * 500 * MS
            handler = SpanSpec(service, "GET /cart", trace, start, start, SERVER)
            cursor, select_ns = start + 300 * US, 0
            for _ in range(selects):
                took = rng.randint(500, 2500) * US
                specs.append(SpanSpec(service, "SELECT items", trace, cursor, cursor + took,
                                      CLIENT, parent=handler.span_id))  # fmt: skip
                select_ns += took
                cursor += took + 20 * US
            handler.end = cursor + 200 * US
            specs.append(handler)
            per_request.append((handler.end, select_ns))
        sampled = sorted(per_request, reverse=True)[:20]
        newest[run] = round(sum(ns for _, ns in sampled) / len(sampled) / MS, 3)
        send_spans(otlp_http_url, specs, resource={"run.id": run})
    return NPlusOneRuns(service, runs, newest)
