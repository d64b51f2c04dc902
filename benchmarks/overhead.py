"""Tool overhead: an MCP tool call over stdio vs the direct HTTP query(ies) the tool makes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from mcp import Client

from benchmarks.common import Table, backend_settings, ms, p50, p95, server_params
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.core.fields import LOG_SERVICE
from obs_mcp.core.logs import query_logs
from obs_mcp.core.red import error_rate
from obs_mcp.queries import logsql_exact
from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import resolve_window, rfc3339

Timed = Callable[[], Awaitable[Any]]


async def recorded_queries(
    backends: Backends, call: Callable[[], Awaitable[object]]
) -> list[tuple[str, Any]]:
    """The (path, params) of every VictoriaTraces request one core call makes."""
    seen: list[tuple[str, Any]] = []
    original = backends.traces.get_text

    async def spy(path: str, params: Any) -> str:
        seen.append((path, params))
        return await original(path, params)

    backends.traces.get_text = spy  # type: ignore[method-assign]
    try:
        await call()
    finally:
        backends.traces.get_text = original  # type: ignore[method-assign]
    return seen


async def _time_interleaved(calls: list[Timed], n: int, warmup: int = 3) -> list[list[float]]:
    """Time each call n times, rotating the order every round so none gains from going first."""
    for _ in range(warmup):
        for call in calls:
            await call()
    out: list[list[float]] = [[] for _ in calls]
    for round_ in range(n):
        for k in range(len(calls)):
            index = (round_ + k) % len(calls)
            started = time.perf_counter()
            await calls[index]()
            out[index].append(time.perf_counter() - started)
    return out


async def measure(stack: Stack, service: str, n: int) -> Table:
    """`service` must have logs and server spans in the last 15 minutes."""
    end = datetime.now(UTC)
    start_s, end_s = rfc3339(end - timedelta(minutes=15)), rfc3339(end)
    window = resolve_window(None, start_s, end_s)
    settings = backend_settings(stack)
    s = stack.settings
    table = Table(
        "2. Tool overhead: MCP tool over stdio vs the same store query over HTTP",
        [
            "tool",
            "calls",
            "raw HTTP p50 ms",
            "raw p95 ms",
            "core fn p50 ms",
            "core fn p95 ms",
            "MCP stdio p50 ms",
            "stdio p95 ms",
            "stdio/raw (p50)",
            "stdio - raw (p50 ms)",
        ],
    )
    logs_args: dict[str, Any] = {"query": "*", "service": service, "start": start_s, "end": end_s}
    rate_args: dict[str, Any] = {"service": service, "start": start_s, "end": end_s}
    async with (
        open_backends(settings) as backends,
        httpx2.AsyncClient(timeout=30) as http,
        Client(server_params(stack), read_timeout_seconds=60) as client,
    ):
        extra = logsql_exact(LOG_SERVICE, service)
        logs_params = backends.logs._params("*", window, limit=51, extra_filters=extra)
        rate_queries = await recorded_queries(
            backends, lambda: error_rate(backends, service, None, start_s, end_s)
        )

        async def raw_logs() -> None:
            r = await http.get(f"{s.vl_url}/select/logsql/query", params=logs_params)
            r.raise_for_status()

        async def raw_rate() -> None:  # the tool's own store queries, one after another
            for path, params in rate_queries:
                r = await http.get(f"{s.vt_url}{path}", params=params)
                r.raise_for_status()

        async def core_logs() -> None:
            await query_logs(backends, "*", service, None, start_s, end_s)

        async def core_rate() -> None:
            await error_rate(backends, service, None, start_s, end_s)

        def via_mcp(name: str, args: dict[str, Any]) -> Timed:
            async def call() -> None:
                result = await client.call_tool(name, args)
                if result.is_error:
                    raise RuntimeError(f"{name} failed: {result.content}")

            return call

        cases = [
            ("query_logs (1 LogsQL query)", raw_logs, core_logs, via_mcp("query_logs", logs_args)),
            (
                f"error_rate ({len(rate_queries)} LogsQL queries; raw: replayed in series)",
                raw_rate,
                core_rate,
                via_mcp("error_rate", rate_args),
            ),
        ]
        for name, raw, core, tool in cases:
            raw_t, core_t, tool_t = await _time_interleaved([raw, core, tool], n)
            table.add(
                name,
                n,
                ms(p50(raw_t)),
                ms(p95(raw_t)),
                ms(p50(core_t)),
                ms(p95(core_t)),
                ms(p50(tool_t)),
                ms(p95(tool_t)),
                f"{p50(tool_t) / p50(raw_t):.2f}x",
                ms(p50(tool_t) - p50(raw_t)),
            )
    table.notes.append(
        "Same fixed 15-minute window and the same data for all three; raw HTTP sends the exact "
        "LogsQL and parameters the tool sends (httpx2, one pooled client). core fn = the "
        "in-process function the tool wraps (parse + typed model, no MCP). MCP stdio = "
        "`Client(StdioServerParameters(python -m obs_mcp))`.call_tool, JSON-RPC over pipes. "
        "The three are timed in rotating order each round."
    )
    return table
