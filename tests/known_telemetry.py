"""Known telemetry with exactly computable figures, emitted through the real collector.

Every figure a contract test asserts is derived here from the emission plan, never from the
stores. Span times are set explicitly (nanoseconds) so durations and percentiles are exact.
Also: raw store reads (independent of the code under test) and an `obs-mcp serve` subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Span, Tracer
from opentelemetry.trace import SpanKind, Status, StatusCode

from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from tests.otel_emit import Emitter, emitter
from tests.waiting import wait_for

MS = 1_000_000  # nanoseconds per millisecond

# ---- raw store reads (independent of the code under test) ------------------------------------


def logsql(
    base: str, query: str, headers: dict[str, str] | None = None, **params: str
) -> list[dict[str, str]]:
    """Rows of a raw LogsQL query; `headers` carry a cluster tenant (AccountID/ProjectID)."""
    answer = httpx2.get(
        f"{base}/select/logsql/query",
        params={"query": query, "disable_latency_offset": "true", **params},
        headers=headers,
        timeout=10,
    )
    answer.raise_for_status()
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def logsql_count(base: str, query: str, headers: dict[str, str] | None = None) -> int:
    rows = logsql(base, f"{query} | stats count() n", headers)
    return int(rows[0]["n"]) if rows else 0


def span_counts_by_service(vt_url: str, start: str, end: str) -> dict[str, int]:
    """Spans per service in [start, end]: what a 'services then' hint ranks by."""
    rows = logsql(
        vt_url,
        '"resource_attr:service.name":* | stats by ("resource_attr:service.name") count() spans',
        start=start,
        end=end,
    )
    # A real VictoriaTraces' trace-id index rows have no service: not a service to hint at.
    return {
        row["resource_attr:service.name"]: int(row["spans"])
        for row in rows
        if row.get("resource_attr:service.name")
    }


def promql_instant(vm_url: str, query: str) -> list[dict[str, object]]:
    data = httpx2.get(f"{vm_url}/api/v1/query", params={"query": query}, timeout=10).json()
    result: list[dict[str, object]] = data["data"]["result"]
    return result


def wait_for_count(
    base: str,
    query: str,
    expected: int,
    timeout: float = 45.0,
    headers: dict[str, str] | None = None,
) -> None:
    """Poll until exactly `expected` rows match, both by `stats count()` and by reading the
    rows (fails loudly on more, which means a bug). VictoriaLogs can show freshly ingested
    rows to `stats` up to ~1 s before a plain query returns them, so both are checked."""

    def probe() -> bool:
        counted = logsql_count(base, query, headers)
        assert counted <= expected, f"{query!r}: {counted} rows, more than the {expected} emitted"
        if counted != expected:
            return False
        read = len(logsql(base, query, headers, limit=str(expected + 1)))
        assert read <= expected, f"{query!r}: read {read} rows, more than {expected} emitted"
        return read == expected

    wait_for(probe, timeout=timeout, interval=0.25)


def hex_trace(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def hex_span(span: Span) -> str:
    return format(span.get_span_context().span_id, "016x")


@contextmanager
def current(span: Span) -> Iterator[None]:
    """Make a manually timed span current (so log records carry its trace/span ids)."""
    with trace.use_span(span, end_on_exit=False):
        yield


def _child(tracer: Tracer, name: str, parent: Span, kind: SpanKind, start_ns: int) -> Span:
    span = tracer.start_span(
        name, context=trace.set_span_in_context(parent), kind=kind, start_time=start_ns
    )
    assert isinstance(span, Span)
    return span


def _root(tracer: Tracer, name: str, kind: SpanKind, start_ns: int) -> Span:
    span = tracer.start_span(name, context=otel_context.Context(), kind=kind, start_time=start_ns)
    assert isinstance(span, Span)
    return span


# ---- the shop: two services, known RED figures ------------------------------------------------

GET_OP = "GET /api/items"
POST_OP = "POST /api/order"
CLIENT_OP = "POST /charge"
BACK_OP = "POST /charge"
VALIDATE_OP = "validate order"
DB_OP = "SELECT cards"
EXCEPTION_MESSAGE = "card 1234 declined"

# Durations (ms) chosen as plateaus, so every quantile definition gives the same answer.
GET_FAST, GET_FAST_MS = 50, 5.0
GET_SLOW, GET_SLOW_MS = 70, 15.0
POST_OK, POST_OK_MS = 43, 20.0
POST_ERR, POST_ERR_MS = 37, 100.0
INFO_EVERY = 10  # an INFO log in every 10th GET request


@dataclass
class Shop:
    run_id: str
    front: str
    back: str
    error_trace_ids: list[str] = field(default_factory=list)
    ok_trace_ids: list[str] = field(default_factory=list)
    # per error trace: span ids by role
    roles: dict[str, dict[str, str]] = field(default_factory=dict)

    # ---- exact figures ----
    get_total: int = GET_FAST + GET_SLOW
    post_total: int = POST_OK + POST_ERR
    errors: int = POST_ERR

    @property
    def total(self) -> int:
        return self.get_total + self.post_total

    @property
    def error_rate(self) -> float:
        return round(self.errors / self.total, 6)

    @property
    def info_logs(self) -> int:
        return len(range(0, self.get_total, INFO_EVERY))

    @property
    def front_logs(self) -> int:
        return self.errors + self.info_logs

    @property
    def back_logs(self) -> int:
        return self.errors

    @property
    def front_spans(self) -> int:
        # every request's SERVER span + a validate span and a CLIENT span per failing order
        return self.total + 2 * self.errors

    @property
    def back_spans(self) -> int:
        return 2 * self.errors  # SERVER span + db span per charge

    @property
    def orders_processed(self) -> int:
        return 2 * POST_OK + 1 * POST_ERR  # ok orders add 2, failed ones add 1

    # overall / per-operation percentiles (ms), from the plateaus above
    p50_ms: float = GET_SLOW_MS
    p95_ms: float = POST_ERR_MS
    p99_ms: float = POST_ERR_MS
    get_p50_ms: float = GET_SLOW_MS
    get_p95_ms: float = GET_SLOW_MS
    post_p50_ms: float = POST_OK_MS
    post_p95_ms: float = POST_ERR_MS


def _request_plan() -> list[tuple[str, float, bool]]:
    """(operation, duration ms, is_error) for the 200 front requests, interleaved."""
    gets = [(GET_OP, GET_FAST_MS, False)] * GET_FAST + [(GET_OP, GET_SLOW_MS, False)] * GET_SLOW
    posts = [(POST_OP, POST_OK_MS, False)] * POST_OK + [(POST_OP, POST_ERR_MS, True)] * POST_ERR
    plan: list[tuple[str, float, bool]] = []
    # interleave deterministically: 3 GETs then 2 POSTs while both last
    while gets or posts:
        plan += [gets.pop(0) for _ in range(min(3, len(gets)))]
        plan += [posts.pop(0) for _ in range(min(2, len(posts)))]
    return plan


def emit_shop(otlp_http_url: str, run_id: str | None = None) -> tuple[Shop, Emitter, Emitter]:
    """The shop's plan; the same `run_id` gives the same service names (e.g. one telemetry
    into two stacks)."""
    run_id = run_id or uuid.uuid4().hex[:10]
    shop = Shop(run_id=run_id, front=f"front-{run_id}", back=f"back-{run_id}")
    front = emitter(otlp_http_url, shop.front)
    back = emitter(otlp_http_url, shop.back)
    counter = front.meter.create_counter("orders.processed")
    plan = _request_plan()
    step_ns = 500 * MS
    base_ns = time.time_ns() - len(plan) * step_ns - 5_000 * MS
    gets_seen = 0
    for index, (operation, duration_ms, failed) in enumerate(plan):
        start = base_ns + index * step_ns
        end = start + int(duration_ms * MS)
        root = _root(front.tracer, operation, SpanKind.SERVER, start)
        root.set_attribute("http.request.method", operation.split()[0])
        root.set_attribute("http.route", operation.split()[1])
        trace_id = hex_trace(root)
        if operation == GET_OP:
            root.set_attribute("http.response.status_code", 200)
            if gets_seen % INFO_EVERY == 0:
                with current(root):
                    front.logger.info("listed items page %d", gets_seen)
            gets_seen += 1
            shop.ok_trace_ids.append(trace_id)
        elif not failed:
            root.set_attribute("http.response.status_code", 201)
            counter.add(2, {"outcome": "ok"})
            shop.ok_trace_ids.append(trace_id)
        else:
            counter.add(1, {"outcome": "error"})
            validate = _child(front.tracer, VALIDATE_OP, root, SpanKind.INTERNAL, start + 1 * MS)
            validate.end(end_time=start + 4 * MS)
            client = _child(front.tracer, CLIENT_OP, root, SpanKind.CLIENT, start + 5 * MS)
            client.set_attribute("http.request.method", "POST")
            client.set_attribute("http.response.status_code", 502)
            server = _child(back.tracer, BACK_OP, client, SpanKind.SERVER, start + 10 * MS)
            server.set_attribute("http.request.method", "POST")
            server.set_attribute("http.route", "/charge")
            server.set_attribute("http.response.status_code", 500)
            db = _child(back.tracer, DB_OP, server, SpanKind.CLIENT, start + 12 * MS)
            db.set_attribute("db.system", "sqlite")
            db.end(end_time=start + 20 * MS)
            with current(server):
                back.logger.error("charge failed: %s", EXCEPTION_MESSAGE)
            server.record_exception(ValueError(EXCEPTION_MESSAGE), timestamp=start + 80 * MS)
            server.set_status(Status(StatusCode.ERROR, EXCEPTION_MESSAGE))
            server.end(end_time=start + 90 * MS)
            client.end(end_time=start + 95 * MS)
            root.set_attribute("http.response.status_code", 502)
            root.set_status(Status(StatusCode.ERROR, "payment failed"))
            with current(root):
                front.logger.error("order failed: payment backend answered 500")
            shop.error_trace_ids.append(trace_id)
            shop.roles[trace_id] = {
                "root": hex_span(root),
                "validate": hex_span(validate),
                "client": hex_span(client),
                "back": hex_span(server),
                "db": hex_span(db),
            }
        root.end(end_time=end)
    front.flush()
    back.flush()
    return shop, front, back


def wait_for_shop(
    shop: Shop, vl_url: str, vt_url: str, vm_url: str, headers: dict[str, str] | None = None
) -> None:
    svc = '"resource_attr:service.name"'
    wait_for_count(vt_url, f'{svc}:="{shop.front}"', shop.front_spans, headers=headers)
    wait_for_count(vt_url, f'{svc}:="{shop.back}"', shop.back_spans, headers=headers)
    wait_for_count(vl_url, f'"service.name":="{shop.front}"', shop.front_logs, headers=headers)
    wait_for_count(vl_url, f'"service.name":="{shop.back}"', shop.back_logs, headers=headers)
    query = f'sum(orders_processed_total{{service_name="{shop.front}"}})'

    def metric() -> bool:
        result = promql_instant(vm_url, query)
        return bool(result) and float(result[0]["value"][1]) == shop.orders_processed  # type: ignore[index]

    wait_for(metric, timeout=45, interval=0.5)


# ---- one big trace ----------------------------------------------------------------------------


@dataclass
class BigTrace:
    service: str
    trace_id: str
    span_count: int
    root_span_id: str
    error_span_ids: list[str]
    log_count: int
    must_keep: int  # root + error spans + all their ancestors


def emit_big_trace(
    otlp_http_url: str, span_count: int, error_every: int, log_count: int, prefix: str = "big"
) -> BigTrace:
    """One trace: a SERVER root and span_count-1 INTERNAL/CLIENT descendants (a bushy tree,
    depth up to ~6), every `error_every`-th span an error with an exception, and `log_count`
    INFO/ERROR log lines spread over the spans (errors log on their error spans)."""
    service = f"{prefix}-{uuid.uuid4().hex[:10]}"
    em = emitter(otlp_http_url, service)
    base = time.time_ns() - 60_000 * MS
    root = _root(em.tracer, "GET /api/report", SpanKind.SERVER, base)
    root.set_attribute("http.request.method", "GET")
    root.set_attribute("http.route", "/api/report")
    root.set_attribute("http.response.status_code", 500)
    spans: list[Span] = [root]
    errors: list[str] = []
    error_indices: list[int] = []
    logs_left = log_count
    for index in range(1, span_count):
        parent = spans[(index - 1) // 3]  # each span has up to 3 children
        kind = SpanKind.CLIENT if index % 4 == 0 else SpanKind.INTERNAL
        name = f"SELECT items WHERE shard={index % 17}" if kind == SpanKind.CLIENT else "step"
        span = _child(em.tracer, name, parent, kind, base + index * 10_000)
        if kind == SpanKind.CLIENT:
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.statement", f"SELECT * FROM items WHERE shard = {index % 17}")
        span.set_attribute("code.function", f"handler_{index % 23}")
        if index % error_every == 0:
            with current(span):
                em.logger.error("step %d failed: shard %d unavailable", index, index % 17)
                logs_left -= 1
            span.record_exception(RuntimeError(f"shard {index % 17} unavailable"))
            span.set_status(Status(StatusCode.ERROR, f"shard {index % 17} unavailable"))
            errors.append(hex_span(span))
            error_indices.append(index)
        elif logs_left > 0 and index % max(1, span_count // max(1, log_count)) == 0:
            with current(span):
                em.logger.info("step %d read %d rows", index, index * 3)
                logs_left -= 1
        spans.append(span)
        if index % 400 == 0:
            em.tracer_provider.force_flush()
    while logs_left > 0:  # top up on the root so the log total is exact
        with current(root):
            em.logger.warning("report slow: %d ms", logs_left)
        logs_left -= 1
    # end children before parents, all inside the root's window
    for index in range(len(spans) - 1, 0, -1):
        spans[index].end(end_time=base + index * 10_000 + 5 * MS)
    root.set_status(Status(StatusCode.ERROR, "report failed"))
    root.end(end_time=base + span_count * 10_000 + 50 * MS)
    em.flush()
    em.shutdown()
    logging.getLogger(f"obs-mcp-tests.{service}").handlers.clear()
    keep = {0}
    for index in error_indices:
        while index not in keep:
            keep.add(index)
            index = (index - 1) // 3
    big = BigTrace(
        service=service,
        trace_id=hex_trace(root),
        span_count=span_count,
        root_span_id=hex_span(root),
        error_span_ids=[hex_span(root), *errors],
        log_count=log_count,
        must_keep=len(keep),
    )
    return big


def wait_for_big_trace(big: BigTrace, vl_url: str, vt_url: str) -> None:
    wait_for_count(vt_url, f'trace_id:="{big.trace_id}"', big.span_count, timeout=60)
    wait_for_count(vl_url, f'trace_id:="{big.trace_id}"', big.log_count, timeout=60)


# ---- a small service for transport/CLI tests -------------------------------------------------


@dataclass
class Small:
    service: str
    total: int
    errors: int
    error_trace_id: str

    @property
    def error_rate(self) -> float:
        return round(self.errors / self.total, 6)


def emit_small(
    otlp_http_url: str,
    total: int = 10,
    errors: int = 3,
    prefix: str = "tx",
    service: str | None = None,
) -> Small:
    service = service or f"{prefix}-{uuid.uuid4().hex[:10]}"
    em = emitter(otlp_http_url, service)
    base = time.time_ns() - 30_000 * MS
    error_trace = ""
    for index in range(total):
        start = base + index * 100 * MS
        span = _root(em.tracer, "GET /ping", SpanKind.SERVER, start)
        if index < errors:
            span.set_status(Status(StatusCode.ERROR, "boom"))
            with current(span):
                em.logger.error("ping %d failed", index)
            error_trace = hex_trace(span)
        span.end(end_time=start + (index + 1) * MS)
    em.flush()
    em.shutdown()
    return Small(service=service, total=total, errors=errors, error_trace_id=error_trace)


def wait_for_small(small: Small, vt_url: str, vl_url: str) -> None:
    wait_for_count(
        vt_url, f'"resource_attr:service.name":={json.dumps(small.service)}', small.total
    )
    if small.errors:
        wait_for_count(vl_url, f'"service.name":={json.dumps(small.service)}', small.errors)


# ---- server subprocesses ----------------------------------------------------------------------

OBS_MCP = str(Path(sys.executable).parent / "obs-mcp")
TOKEN_ENV = "OBS_MCP_HTTP_TOKEN"


def store_env(stack: Stack) -> dict[str, str]:
    return stack.settings.store_env()


def process_env(stack: Stack, **extra: str) -> dict[str, str]:
    """A full environment for an HTTP server subprocess, never carrying a token by accident."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    return {**env, **store_env(stack), **extra}


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


@contextmanager
def http_server(
    stack: Stack,
    transport: str,
    log_dir: Path,
    host: str = "127.0.0.1",
    **extra_env: str,
) -> Iterator[int]:
    """`obs-mcp serve --transport ...` as a subprocess; yields its port; always killed."""
    port = free_port("127.0.0.1")
    log = (log_dir / f"serve-{transport}-{port}.log").open("wb")
    argv = [OBS_MCP, "serve", "--transport", transport, "--host", host, "--port", str(port)]
    proc = subprocess.Popen(
        argv, env=process_env(stack, **extra_env), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while not is_listening(port):
            if proc.poll() is not None:
                raise AssertionError(
                    f"{argv} exited with {proc.returncode}: {Path(log.name).read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{argv} did not listen within 30s")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
