"""Load: 50 concurrent Streamable-HTTP clients x 20 tool calls, and concurrent stdio sessions.

Figures (p50/p99 latency, server RSS before/after) are printed (-s) and kept in
docs/RELIABILITY.md; the asserts are zero failures and generous bounds only.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from opentelemetry.trace import SpanKind, Status, StatusCode

from obs_mcp.stack.runner import Stack
from tests.answers import text_of
from tests.faultkit import rss_kib, serve_http, span_count
from tests.otel_emit import emitter
from tests.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.slow]

CLIENTS = 50
CALLS_EACH = 20
REQUESTS, ERRORS = 20, 5


@pytest.fixture(scope="module")
def known(native_stack: Stack) -> str:
    """A service with exactly REQUESTS server spans, ERRORS of them failed."""
    service = f"load-{uuid.uuid4().hex[:6]}"
    em = emitter(native_stack.settings.otlp_http_url, service)
    for i in range(REQUESTS):
        with em.tracer.start_as_current_span("GET /load", kind=SpanKind.SERVER) as span:
            if i < ERRORS:
                span.set_status(Status(StatusCode.ERROR))
            em.logger.info("load %d", i)
    em.shutdown()
    wait_for(lambda: span_count(native_stack, service) == REQUESTS)
    return service


def plan(service: str, i: int) -> tuple[str, dict[str, Any]]:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("error_rate", {"service": service, "since": "1h"}),
        ("list_services", {"since": "15m"}),
        ("query_logs", {"service": service, "since": "1h", "limit": 5}),
        ("query_metrics", {"query": "vector(1)"}),
        ("search_traces", {"service": service, "since": "1h", "limit": 5}),
    ]
    return calls[i % len(calls)]


def check(service: str, tool: str, result: Any) -> str | None:
    if result.is_error:
        return f"{tool}: {text_of(result)[:200]}"
    data = result.structured_content or {}
    if tool == "error_rate" and (data.get("total"), data.get("errors")) != (REQUESTS, ERRORS):
        return f"error_rate wrong figures: {data.get('total')}/{data.get('errors')}"
    return None


def test_50_concurrent_http_clients(native_stack: Stack, known: str, tmp_path: Path) -> None:
    latencies: list[float] = []
    failures: list[str] = []

    async def one_client(n: int) -> None:
        try:
            async with Client(url) as client:
                for i in range(CALLS_EACH):
                    tool, args = plan(known, n + i)
                    started = time.monotonic()
                    result = await client.call_tool(tool, args)
                    latencies.append(time.monotonic() - started)
                    if problem := check(known, tool, result):
                        failures.append(problem)
        except Exception as exc:  # a dropped session is a failure too
            failures.append(f"client {n}: {type(exc).__name__}: {exc}")

    async def run_all() -> None:
        async with anyio.create_task_group() as group:
            for n in range(CLIENTS):
                group.start_soon(one_client, n)

    env = {**native_stack.settings.store_env(), "OBS_MCP_TIMEOUT": "30"}
    with serve_http(env, tmp_path / "serve.log") as (proc, port):
        url = f"http://127.0.0.1:{port}/mcp"

        async def warm_up() -> None:
            async with Client(url) as client:
                for i in range(5):
                    await client.call_tool(*plan(known, i))

        anyio.run(warm_up)
        rss_before = rss_kib(proc.pid)
        started = time.monotonic()
        anyio.run(run_all)
        wall = time.monotonic() - started
        rss_after = rss_kib(proc.pid)
        anyio.run(run_all)  # a second round: memory must level off, not keep growing
        rss_after2 = rss_kib(proc.pid)
        alive = proc.poll() is None
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"\nload: {CLIENTS} clients x {CALLS_EACH} calls = {len(latencies)} calls (x2 rounds) "
        f"in {wall:.1f}s (first round) -> {CLIENTS * CALLS_EACH / wall:.0f} calls/s; "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms; "
        f"RSS {rss_before // 1024} MiB -> {rss_after // 1024} MiB -> {rss_after2 // 1024} MiB; "
        f"failures {len(failures)}"
    )
    assert alive
    assert not failures, failures[:5]
    assert len(latencies) == 2 * CLIENTS * CALLS_EACH
    assert p99 < 30
    assert rss_after2 - rss_after < 100 * 1024, "RSS keeps growing between identical rounds"


async def test_concurrent_stdio_sessions(native_stack: Stack, known: str) -> None:
    env = {**native_stack.settings.store_env()}
    import os

    env = {**os.environ, **env}
    answers: list[tuple[int, int]] = []

    async def session() -> None:
        params = StdioServerParameters(command=sys.executable, args=["-m", "obs_mcp"], env=env)
        async with Client(params) as client:
            rate = await client.call_tool("error_rate", {"service": known, "since": "1h"})
            assert not rate.is_error, text_of(rate)
            data = rate.structured_content or {}
            listed = await client.call_tool("list_services", {"since": "1h"})
            assert known in {s["service"] for s in (listed.structured_content or {})["services"]}
            answers.append((data["total"], data["errors"]))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(session)
    assert answers == [(REQUESTS, ERRORS)] * 5
