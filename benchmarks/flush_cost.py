"""What force-flush costs the stores: CPU while idle and under the scale section's ingest load,
with no flushes and with flushes at the tools' ceiling (every store once per MIN_INTERVAL_S,
what back-to-back tool calls or a wait_for_data poll can cause at most)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2

from benchmarks.common import Table, component_pids, cpu_seconds, ms, p50, p95
from benchmarks.scale import SPANS_PER_TRACE, Phase, Plan, fill
from obs_mcp.clients.flush import MIN_INTERVAL_S
from obs_mcp.stack.runner import Stack

IDLE_S = 10.0
STORES = ("victoriametrics", "victorialogs", "vt-backend", "victoriatraces")


@asynccontextmanager
async def flushing(stack: Stack, latencies: list[float]) -> AsyncIterator[None]:
    """Flush every store of the stack once per MIN_INTERVAL_S until the block ends."""
    s = stack.settings
    key = s.flush_key_file.read_text().strip()
    urls = sorted({s.vm_url, s.vl_url, s.vt_url})
    async with httpx2.AsyncClient(timeout=10) as http, anyio.create_task_group() as group:

        async def loop(url: str) -> None:
            while True:
                started = time.monotonic()
                answer = await http.post(f"{url}/internal/force_flush", data={"authKey": key})
                answer.raise_for_status()
                latencies.append(time.monotonic() - started)
                await anyio.sleep(max(0.0, MIN_INTERVAL_S - (time.monotonic() - started)))

        for url in urls:
            group.start_soon(loop, url)
        try:
            yield
        finally:
            group.cancel_scope.cancel()


def _store_cpu(cpu: dict[str, float], seconds: float) -> str:
    shown = [f"{name} {cpu[name] / seconds * 100:.1f}%" for name in STORES if name in cpu]
    return ", ".join(shown)


async def _idle(stack: Stack) -> dict[str, float]:
    pids = component_pids(stack)
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    await anyio.sleep(IDLE_S)
    return {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}


async def measure(stack: Stack, log_traces: int = 50_000, span_traces: int = 20_000) -> Table:
    table = Table(
        "6. Force-flush cost: store CPU (% of one core) without and with flushes",
        ["load", "flushes", "CPU of the stores", "stored in s", "flush latency p50 / p95 ms"],
    )
    table.add("idle, 10 s", "none", _store_cpu(await _idle(stack), IDLE_S), "", "")
    latencies: list[float] = []
    async with flushing(stack, latencies):
        idle = await _idle(stack)
    rate = f"{1 / MIN_INTERVAL_S:g}/s per store"
    spread = f"{ms(p50(latencies))} / {ms(p95(latencies))}"
    table.add("idle, 10 s", rate, _store_cpu(idle, IDLE_S), "", spread)
    for signal, traces in (("logs", log_traces), ("spans", span_traces)):
        for flush in (False, True):
            latencies, plan = [], Plan()  # fresh trace ids each run
            phase: Phase
            if flush:
                async with flushing(stack, latencies):
                    phase = await fill(stack, plan, signal, traces, 300, 4)
            else:
                phase = await fill(stack, plan, signal, traces, 300, 4)
            table.add(
                f"ingest {traces * SPANS_PER_TRACE:,} {signal} (scale section's generator)",
                rate if flush else "none",
                _store_cpu(phase.cpu_s, phase.wall_s),
                f"{phase.stored_s:.1f}",
                f"{ms(p50(latencies))} / {ms(p95(latencies))}" if flush else "",
            )
    table.notes.append(
        f"Flushes at the tools' ceiling: each store once per {MIN_INTERVAL_S * 1000:.0f} ms "
        "(the rate limit a burst of tool calls shares), i.e. the most an agent can cause; a "
        "single tool call causes one flush per store it reads. CPU = utime+stime of each "
        "process over the phase's wall time (2 shared cores); ingest as in section 4a, "
        "fresh data each run."
    )
    return table
