"""Scale: fill the stores over OTLP (protobuf, gzip, concurrent), then time the tools at that size.

Spans and logs are built directly as ExportTraceServiceRequest / ExportLogsServiceRequest
messages (no SDK) and POSTed to the collector's /v1/traces and /v1/logs. Every trace has
10 spans over 2 services (2 server spans); every span has one log line carrying its
trace_id/span_id; 5% of traces fail (3 error spans, ERROR logs).
"""

from __future__ import annotations

import cProfile
import gzip
import json
import pstats
import random
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, Status

from benchmarks.common import (
    Table,
    backend_settings,
    component_pids,
    cpu_seconds,
    du_bytes,
    human_bytes,
    ms,
    p50,
    p95,
)
from obs_mcp.core.backends import open_backends
from obs_mcp.core.compare import compare_runs
from obs_mcp.core.correlate import correlate_trace
from obs_mcp.core.logs import query_logs
from obs_mcp.core.red import error_rate
from obs_mcp.core.traces import search_traces
from obs_mcp.stack.runner import Stack
from obs_mcp.stack.vtcompat import decode_request, span_rows
from obs_mcp.timeparse import from_unix_nanos, rfc3339

SERVICES = 50
OPERATIONS = 20
SPANS_PER_TRACE = 10
ERROR_EVERY = 20  # 5% of traces
SPREAD_NS = 10 * 60 * 1_000_000_000  # timestamps over the last 10 minutes
SERVICE_NAMES = [f"scale-svc-{i:02d}" for i in range(SERVICES)]


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


@dataclass
class Plan:
    """Deterministic ids and times: the span and log phases describe the same traces."""

    run: bytes = field(default_factory=lambda: uuid.uuid4().bytes[:8])
    now_ns: int = field(default_factory=time.time_ns)

    def trace_id(self, i: int) -> bytes:
        return self.run + i.to_bytes(8, "big")

    @staticmethod
    def span_id(i: int, j: int) -> bytes:
        return (i * 16 + j + 1).to_bytes(8, "big")

    @staticmethod
    def services(i: int) -> tuple[int, int]:
        return i % SERVICES, (i * 7 + 3) % SERVICES

    def spans_of(self, i: int) -> list[tuple[int, Span]]:
        """(service index, span) of trace i: svc A root SERVER + 4 children (one CLIENT call),
        svc B SERVER under that call + 4 children."""
        a, b = self.services(i)
        end = self.now_ns - (i * 7_919_000_003) % SPREAD_NS
        rnd = (i * 2654435761) % 1000
        total = (20 + rnd) * 1_000_000
        start = end - total
        failing = i % ERROR_EVERY == 0
        trace_id = self.trace_id(i)
        out: list[tuple[int, Span]] = []
        op = f"GET /api/op{i % OPERATIONS}"
        for j in range(SPANS_PER_TRACE):
            svc = a if j < 5 else b
            if j == 0:
                parent, kind, name = b"", Span.SPAN_KIND_SERVER, op
            elif j == 5:
                parent, kind, name = self.span_id(i, 4), Span.SPAN_KIND_SERVER, f"POST /rpc{i % 5}"
            elif j == 4:
                parent, kind, name = self.span_id(i, 0), Span.SPAN_KIND_CLIENT, f"POST /rpc{i % 5}"
            else:
                parent = self.span_id(i, 0 if j < 5 else 5)
                kind, name = Span.SPAN_KIND_INTERNAL, f"step {j}"
            s0 = start + j * total // 20
            s1 = end - j * total // 20
            error = failing and j in (0, 5, 9)
            span = Span(
                trace_id=trace_id,
                span_id=self.span_id(i, j),
                parent_span_id=parent,
                name=name,
                kind=kind,
                start_time_unix_nano=s0,
                end_time_unix_nano=s1,
                attributes=[
                    _kv("http.request.method", "GET"),
                    _kv("url.path", f"/api/op{i % OPERATIONS}/{j}"),
                    _kv("http.response.status_code", 500 if error else 200),
                ],
                status=Status(
                    code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET,
                    message="upstream timeout" if error else "",
                ),
            )
            out.append((svc, span))
        return out

    def trace_request(self, first: int, count: int) -> ExportTraceServiceRequest:
        by_service: dict[int, ScopeSpans] = {}
        request = ExportTraceServiceRequest()
        for i in range(first, first + count):
            for svc, span in self.spans_of(i):
                scope = by_service.get(svc)
                if scope is None:
                    rs = request.resource_spans.add()
                    rs.resource.attributes.append(_kv("service.name", SERVICE_NAMES[svc]))
                    scope = rs.scope_spans.add()
                    scope.scope.name = "bench.scale"
                    by_service[svc] = scope
                scope.spans.append(span)
        return request

    def log_request(self, first: int, count: int) -> ExportLogsServiceRequest:
        by_service: dict[int, ScopeLogs] = {}
        request = ExportLogsServiceRequest()
        for i in range(first, first + count):
            a, b = self.services(i)
            end = self.now_ns - (i * 7_919_000_003) % SPREAD_NS
            failing = i % ERROR_EVERY == 0
            trace_id = self.trace_id(i)
            for j in range(SPANS_PER_TRACE):
                svc = a if j < 5 else b
                scope = by_service.get(svc)
                if scope is None:
                    rl = request.resource_logs.add()
                    rl.resource.attributes.append(_kv("service.name", SERVICE_NAMES[svc]))
                    scope = rl.scope_logs.add()
                    scope.scope.name = "bench.scale"
                    by_service[svc] = scope
                error = failing and j in (0, 5, 9)
                record = scope.log_records.add()
                record.time_unix_nano = end - j * 1_000_000
                record.severity_number = 17 if error else 9
                record.severity_text = "ERROR" if error else "INFO"
                record.body.string_value = (
                    f"step {j} failed: upstream timeout after 3 retries (order {i})"
                    if error
                    else f"step {j} handled order {i} in {(i * 31 + j) % 400} ms"
                )
                record.trace_id = trace_id
                record.span_id = self.span_id(i, j)
        return request


# ---- sending --------------------------------------------------------------------------------
async def _post(http: httpx2.AsyncClient, url: str, body: bytes) -> int:
    """POST one gzip'd OTLP request; retry while the collector pushes back. Returns retries."""
    retries = 0
    while True:
        try:
            r = await http.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/x-protobuf",
                    "Content-Encoding": "gzip",
                },
            )
            if r.status_code == 200:
                return retries
            if r.status_code not in (429, 502, 503, 504):
                raise RuntimeError(f"{url}: HTTP {r.status_code} {r.text[:200]}")
        except httpx2.TransportError:
            pass
        retries += 1
        await anyio.sleep(min(2.0, 0.1 * retries))


@dataclass
class Phase:
    signal: str
    items: int
    requests: int = 0
    retries: int = 0
    send_s: float = 0.0
    stored_s: float = float("nan")
    stored: int = 0
    client_cpu_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0


async def count(http: httpx2.AsyncClient, url: str, traces: bool) -> int:
    params = {"query": "* | stats count() c"}
    if traces:
        params["disable_latency_offset"] = "true"
    r = await http.get(f"{url}/select/logsql/query", params=params)
    r.raise_for_status()
    lines = [line for line in r.text.splitlines() if line.strip()]
    return int(json.loads(lines[0])["c"]) if lines else 0


async def fill(
    stack: Stack,
    plan: Plan,
    signal: str,
    traces: int,
    traces_per_request: int,
    concurrency: int,
    limit_s: float = 900,
) -> Phase:
    s = stack.settings
    is_spans = signal == "spans"
    url = f"{s.otlp_http_url}/v1/{'traces' if is_spans else 'logs'}"
    store = s.vt_url if is_spans else s.vl_url
    phase = Phase(signal, traces * SPANS_PER_TRACE)
    pids = component_pids(stack)
    async with httpx2.AsyncClient(timeout=60) as http:
        baseline = await count(http, store, is_spans)
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        limiter = anyio.CapacityLimiter(concurrency)

        async def send(body: bytes) -> None:
            phase.retries += await _post(http, url, body)
            limiter.release_on_behalf_of(body)

        async with anyio.create_task_group() as group:
            for first in range(0, traces, traces_per_request):
                n = min(traces_per_request, traces - first)
                request: Any = (
                    plan.trace_request(first, n) if is_spans else plan.log_request(first, n)
                )
                body = gzip.compress(request.SerializeToString(), compresslevel=1)
                await limiter.acquire_on_behalf_of(body)
                group.start_soon(send, body)
                phase.requests += 1
        phase.send_s = time.monotonic() - started
        while time.monotonic() - started < limit_s:
            phase.stored = await count(http, store, is_spans) - baseline
            if phase.stored >= phase.items:
                phase.stored_s = time.monotonic() - started
                break
            await anyio.sleep(0.25)
        phase.wall_s = time.monotonic() - started
        me1 = resource.getrusage(resource.RUSAGE_SELF)
        phase.client_cpu_s = (me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime)
        phase.cpu_s = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    return phase


# ---- vt-compat profile ------------------------------------------------------------------------
def profile_vtcompat(
    plan: Plan, traces: int = 200, rounds: int = 5
) -> tuple[dict[str, float], str]:
    """µs per span of each ingest stage of the adapter (timed in process without a profiler),
    plus the top functions by self time from a separate cProfile run (as % of the total)."""
    body = gzip.compress(plan.trace_request(0, traces).SerializeToString(), compresslevel=1)
    n = traces * SPANS_PER_TRACE
    stages = {"gunzip + protobuf decode": 0.0, "span_rows (flatten)": 0.0, "json.dumps lines": 0.0}

    def ingest_once() -> tuple[float, float, float, float]:
        t0 = time.perf_counter()
        message = decode_request(body, "application/x-protobuf", "gzip")
        t1 = time.perf_counter()
        rows = list(span_rows(message))
        t2 = time.perf_counter()
        "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
        return t0, t1, t2, time.perf_counter()

    for _ in range(rounds):
        t0, t1, t2, t3 = ingest_once()
        stages["gunzip + protobuf decode"] += t1 - t0
        stages["span_rows (flatten)"] += t2 - t1
        stages["json.dumps lines"] += t3 - t2
    per_span = {k: v / rounds / n * 1e6 for k, v in stages.items()}
    profiler = cProfile.Profile()
    profiler.runcall(ingest_once)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) or 1.0
    ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[:6]
    top = [
        f"{func if file == '~' else f'{file.rsplit(chr(47), 1)[-1]}:{func}'} "
        f"{tt * 100 / total:.0f}%"
        for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in ranked
    ]
    return per_span, ", ".join(top)


# ---- latency at scale -------------------------------------------------------------------------
async def latencies(stack: Stack, plan: Plan, traces: int, calls: int) -> Table:
    table = Table(
        "4b. Tool latency at that size (core functions, open_backends)",
        ["tool", "calls", "p50 ms", "p95 ms", "max ms", "what each call does"],
    )
    rng = random.Random(7)
    async with open_backends(backend_settings(stack)) as backends:

        async def run(fn: Callable[[int], Awaitable[Any]]) -> list[float]:
            await fn(0)
            out = []
            for k in range(calls):
                t0 = time.perf_counter()
                await fn(k)
                out.append(time.perf_counter() - t0)
            return out

        async def correlate(_k: int) -> None:
            i = rng.randrange(traces)
            result = await correlate_trace(backends, plan.trace_id(i).hex())
            assert result.found and result.span_count == SPANS_PER_TRACE, result.span_count

        async def rate(k: int) -> None:
            result = await error_rate(backends, SERVICE_NAMES[k % SERVICES], since="1h")
            assert result.total > 0 and result.percentiles_exact, result.percentiles_note

        middle = rfc3339(from_unix_nanos(plan.now_ns - SPREAD_NS // 2))
        first = rfc3339(from_unix_nanos(plan.now_ns - SPREAD_NS - 60 * 1_000_000_000))
        last = rfc3339(from_unix_nanos(plan.now_ns + 60 * 1_000_000_000))

        async def compare(k: int) -> None:
            result = await compare_runs(
                backends, SERVICE_NAMES[k % SERVICES], first, middle, middle, last
            )
            assert result.baseline.requests > 0 and result.current.requests > 0
            assert result.percentiles_exact, result.percentiles_note

        async def search(k: int) -> None:
            await search_traces(backends, SERVICE_NAMES[k % SERVICES], errors_only=True, since="1h")

        async def logs(k: int) -> None:
            await query_logs(backends, "timeout", SERVICE_NAMES[k % SERVICES], since="1h")

        cases: list[tuple[str, Callable[[int], Awaitable[Any]], str]] = [
            ("correlate_trace", correlate, "10-span trace + its logs + RED of 2 services"),
            ("error_rate", rate, "one service, 1 h: exact counts + percentiles of its requests"),
            ("compare_runs", compare, "one service, two 5-min halves: both sides + signatures"),
            ("search_traces", search, "one service, errors_only, 1 h, 20 newest + summaries"),
            ("query_logs", logs, "word `timeout` + service filter, 1 h, 50 newest"),
        ]
        for name, fn, what in cases:
            values = await run(fn)
            table.add(name, len(values), ms(p50(values)), ms(p95(values)), ms(max(values)), what)
    return table


async def measure(
    stack: Stack, items: int, calls: int, traces_per_request: int = 300, concurrency: int = 4
) -> list[Table]:
    plan = Plan()
    traces = items // SPANS_PER_TRACE
    phases = [
        await fill(stack, plan, "logs", traces, traces_per_request, concurrency),
        await fill(stack, plan, "spans", traces, traces_per_request, concurrency),
    ]
    s = stack.settings
    async with httpx2.AsyncClient(timeout=60) as http:
        for url in (s.vl_url, f"http://{s.host}:{s.ports.vt_backend}", s.vm_url):
            await http.get(f"{url}/internal/force_flush")
    ingest = Table(
        "4a. Scale: OTLP ingest into the collector -> stores",
        [
            "signal",
            "sent",
            "stored (LogsQL count)",
            "lost",
            "requests x items",
            "sent in s",
            "stored in s",
            "sustained items/s (stored)",
            "CPU % of one core during the phase",
        ],
    )
    for phase in phases:
        busy = {"client (generator)": phase.client_cpu_s} | phase.cpu_s
        cpu = ", ".join(
            f"{name} {secs / phase.wall_s * 100:.0f}%"
            for name, secs in sorted(busy.items(), key=lambda kv: -kv[1])
            if secs / phase.wall_s >= 0.05
        )
        ingest.add(
            phase.signal,
            f"{phase.items:,}",
            f"{phase.stored:,}",
            phase.items - phase.stored,
            f"{phase.requests} x {traces_per_request * SPANS_PER_TRACE}",
            f"{phase.send_s:.1f}",
            f"{phase.stored_s:.1f}",
            f"{phase.items / phase.stored_s:,.0f}",
            cpu,
        )
    data = stack.data_dir
    sizes = {
        name: du_bytes(data / name)
        for name in ("victorialogs", "victoriatraces", "victoriametrics")
    }
    per_span, top = profile_vtcompat(plan)
    ceiling = 1e6 / sum(per_span.values())
    ingest.notes += [
        f"{SERVICES} services, {OPERATIONS} operations each; requests of {traces_per_request} "
        f"traces ({traces_per_request * SPANS_PER_TRACE} spans or log lines), protobuf + gzip "
        f"(level 1), {concurrency} in flight, retried on 429/5xx (retries: "
        + ", ".join(f"{p.signal} {p.retries}" for p in phases)
        + "). 'stored in s' = first request sent -> `* | stats count()` shows every item.",
        "Disk use after force_flush (du): "
        + ", ".join(f"{name} {human_bytes(size)}" for name, size in sizes.items())
        + f" for {phases[0].items:,} log lines and {phases[1].items:,} spans "
        f"({sizes['victoriatraces'] / max(1, phases[1].items):.0f} B/span, "
        f"{sizes['victorialogs'] / max(1, phases[0].items):.0f} B/log line).",
        "vt-compat ingest profile (in process, cProfile, per span): "
        + ", ".join(f"{k} {v:.1f} µs" for k, v in per_span.items())
        + f" -> at most ~{ceiling:,.0f} spans/s on one core before HTTP and the backend's "
        f"own work. cProfile, share of self time: {top}.",
    ]
    for phase in phases:
        busiest = max(phase.cpu_s.items(), key=lambda kv: kv[1], default=("?", 0.0))
        span_rate = phase.items / phase.stored_s
        ingest.notes.append(
            f"{phase.signal}: busiest stack process {busiest[0]} at "
            f"{busiest[1] / phase.stored_s * 100:.0f}% of one core while storing "
            f"({span_rate:,.0f} items/s); the generator used "
            f"{phase.client_cpu_s / phase.stored_s * 100:.0f}% of a core "
            f"(2 cores shared by generator, collector, {len(phase.cpu_s) - 1} stores/adapter)."
        )
    ingest.show()
    scale_latency = await latencies(stack, plan, traces, calls)
    scale_latency.notes.append(
        f"At {phases[1].stored:,} spans and {phases[0].stored:,} log lines in the stores "
        f"(plus the earlier sections' data); services and trace ids drawn at random."
    )
    scale_latency.show()
    return [ingest, scale_latency]
