"""Freshness: from an OTLP export returning to the record being visible, with and without flush.

For each signal (a log line, a span, the next point of a known series, the first point of a
new series) one record is exported with the OpenTelemetry SDK, then a raw store query and
the tool's core function are polled side by side until they see it. Four runs:

- collector, flush off: what an app's data costs end to end without /internal/force_flush;
- collector, flush on: the same with the stack's key (the tools flush before a fresh query);
- direct, off / on: the SDK writes straight into each store (no collector): the store's
  own ingest-to-visible time; the floor = the collector's batch timeout + that time.

    uv run python -m benchmarks.freshness --probes 20
"""

from __future__ import annotations

import argparse
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx2
from tests.otel_emit import Emitter, emitter

from benchmarks.common import Table, isolated_stack, p50, p95, secs
from obs_mcp.config import Settings
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.core.logs import query_logs
from obs_mcp.core.metrics import query_metrics
from obs_mcp.core.traces import search_traces
from obs_mcp.errors import StoreError
from obs_mcp.stack.runner import Stack
from obs_mcp.stack.versions import collector_config_path

POLL_S = 0.02
LIMIT_S = 30.0
SIGNALS = ("log", "span", "metric point", "new series")
TOOLS = {
    "log": "query_logs",
    "span": "search_traces",
    "metric point": "query_metrics",
    "new series": "query_metrics",
}
Check = Callable[[], Awaitable[bool]]
Pair = tuple[float, float]  # (raw store query, tool) seconds from export return to visible
Results = dict[str, list[Pair]]


def batch_timeout_s() -> float:
    """The collector's batch timeout, read from the config the stack runs."""
    text = collector_config_path().read_text()
    match = re.search(r"^\s+batch:\s*\n(?:\s+#.*\n)*\s+timeout:\s*(\d+)(ms|s)\b", text, re.M)
    if not match:
        return float("nan")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


async def _apoll(check: Check, since: float) -> float:
    """Seconds from `since` (monotonic) until check() first holds; NaN after LIMIT_S."""
    while time.monotonic() - since < LIMIT_S:
        try:
            if await check():
                return time.monotonic() - since
        except StoreError:
            pass
        await anyio.sleep(POLL_S)
    return float("nan")


async def _race(checks: tuple[Check, Check], since: float) -> Pair:
    """Poll the raw store query and the tool side by side from one export."""
    out: list[float] = [float("nan"), float("nan")]

    async def run(index: int) -> None:
        out[index] = await _apoll(checks[index], since)

    async with anyio.create_task_group() as group:
        group.start_soon(run, 0)
        group.start_soon(run, 1)
    return out[0], out[1]


@dataclass
class Run:
    """One of the four runs: where the SDK sends, and whether the tools may flush."""

    direct: bool
    flush: bool

    def settings(self, stack: Stack) -> Settings:
        s = stack.settings
        env = {"VL_URL": s.vl_url, "VM_URL": s.vm_url, "VT_URL": s.vt_url}
        return Settings.from_env(env | (s.flush_env() if self.flush else {}))

    def emitter(self, stack: Stack) -> Emitter:
        s = stack.settings
        direct = {
            "logs": f"{s.vl_url}/insert/opentelemetry/v1/logs",
            "traces": f"{s.vt_url}/insert/opentelemetry/v1/traces",
            "metrics": f"{s.vm_url}/opentelemetry/v1/metrics",
        }
        service = f"fresh-{uuid.uuid4().hex[:6]}"
        return emitter(s.otlp_http_url, service, direct if self.direct else None)


async def measure_run(stack: Stack, run: Run, probes: int, lanes: int = 4) -> Results:
    """`lanes` emitters (own service and counter each) probe concurrently, each with its own
    store clients, as one agent session's server has; within a lane the four signals of a
    round run concurrently, each polled until both sides see it."""
    s = stack.settings
    out: Results = {signal: [] for signal in SIGNALS}
    rounds = -(-probes // lanes)

    async def lane(http: httpx2.AsyncClient) -> None:
        async with open_backends(run.settings(stack)) as backends:
            await probe(backends, http)

    async def probe(backends: Backends, http: httpx2.AsyncClient) -> None:
        em = run.emitter(stack)
        counter = em.meter.create_counter("freshness.probe")
        total = 0
        q = Queries(http, backends, s.vl_url, s.vt_url, s.vm_url, em.service)
        counter.add(1)  # the known series exists before its points are timed
        total += 1
        await anyio.to_thread.run_sync(em.reader.force_flush)
        await _apoll(q.metric(total)[0], time.monotonic())
        for _ in range(rounds):
            marker = uuid.uuid4().hex
            em.logger.warning("freshness probe %s", marker)
            await anyio.to_thread.run_sync(em.logger_provider.force_flush)
            log_t0 = time.monotonic()
            with em.tracer.start_as_current_span("freshness probe") as span:
                trace_id = format(span.get_span_context().trace_id, "032x")
            await anyio.to_thread.run_sync(em.tracer_provider.force_flush)
            span_t0 = time.monotonic()
            total += 1
            counter.add(1)
            counter.add(1, {"probe": marker})  # a series no store has seen yet
            await anyio.to_thread.run_sync(em.reader.force_flush)
            metric_t0 = time.monotonic()
            races = {
                "log": (q.log(marker), log_t0),
                "span": (q.span(trace_id), span_t0),
                "metric point": (q.metric(total), metric_t0),
                "new series": (q.new_series(marker), metric_t0),
            }

            async def one(name: str, checks: tuple[Check, Check], since: float) -> None:
                out[name].append(await _race(checks, since))

            async with anyio.create_task_group() as group:
                for name, (checks, since) in races.items():
                    group.start_soon(one, name, checks, since)
        await anyio.to_thread.run_sync(em.shutdown)

    async with httpx2.AsyncClient(timeout=10) as http, anyio.create_task_group() as group:
        for _ in range(lanes):
            group.start_soon(lane, http)
    return out


@dataclass
class Queries:
    """The raw store query and the tool call that must each see one probe."""

    http: httpx2.AsyncClient
    backends: Backends
    vl_url: str
    vt_url: str
    vm_url: str
    service: str

    def log(self, marker: str) -> tuple[Check, Check]:
        async def raw() -> bool:
            r = await self.http.get(
                f"{self.vl_url}/select/logsql/query", params={"query": f'"{marker}"', "limit": 1}
            )
            return marker in r.text

        async def tool() -> bool:
            result = await query_logs(self.backends, f'"{marker}"', self.service, "5m", limit=1)
            return bool(result.rows)

        return raw, tool

    def span(self, trace_id: str) -> tuple[Check, Check]:
        async def raw() -> bool:
            params: dict[str, str | int] = {
                "query": f'trace_id:="{trace_id}"',
                "limit": 1,
                "disable_latency_offset": "true",
            }
            r = await self.http.get(f"{self.vt_url}/select/logsql/query", params=params)
            return trace_id in r.text

        async def tool() -> bool:
            result = await search_traces(self.backends, self.service, since="5m", limit=5)
            return any(t.trace_id == trace_id for t in result.traces)

        return raw, tool

    def _promql(self, query: str, want: float) -> tuple[Check, Check]:
        async def raw() -> bool:
            r = (await self.http.get(f"{self.vm_url}/api/v1/query", params={"query": query})).json()
            result = r["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) == want

        async def tool() -> bool:
            result = await query_metrics(self.backends, query)
            return bool(result.series) and result.series[0].value == want

        return raw, tool

    def metric(self, total: int) -> tuple[Check, Check]:
        selector = f'freshness_probe_total{{service_name="{self.service}",probe=""}}'
        return self._promql(selector, float(total))

    def new_series(self, marker: str) -> tuple[Check, Check]:
        return self._promql(
            f'freshness_probe_total{{service_name="{self.service}",probe="{marker}"}}', 1.0
        )


RUNS = {
    "off": Run(direct=False, flush=False),
    "on": Run(direct=False, flush=True),
    "direct off": Run(direct=True, flush=False),
    "direct on": Run(direct=True, flush=True),
}


async def measure(stack: Stack, probes: int) -> dict[str, Results]:
    return {name: await measure_run(stack, run, probes) for name, run in RUNS.items()}


def _side(pairs: list[Pair], index: int) -> list[float]:
    return [pair[index] for pair in pairs]


def _cell(values: list[float]) -> str:
    missed = sum(1 for v in values if not math.isfinite(v))
    text = f"{secs(p50(values))} / {secs(p95(values))}"
    return text + (f" ({missed} missed)" if missed else "")


def tools_table(results: dict[str, Results]) -> Table:
    batch = batch_timeout_s()
    table = Table(
        "1. Freshness: OTLP export returned -> record visible (p50 / p95 s)",
        [
            "signal",
            "probes",
            "tool",
            "raw store, flush off",
            "tool, flush off",
            "tool, flush on",
            "tool max, flush on",
            "floor off (batch + store)",
            "floor on (batch + store + flush)",
        ],
    )
    for signal in SIGNALS:
        off, on = results["off"][signal], results["on"][signal]
        d_off = _side(results["direct off"][signal], 0)
        d_on = _side(results["direct on"][signal], 1)
        tool_on = _side(on, 1)
        table.add(
            signal,
            len(off),
            TOOLS[signal],
            _cell(_side(off, 0)),
            _cell(_side(off, 1)),
            _cell(tool_on),
            secs(max((v for v in tool_on if math.isfinite(v)), default=float("nan"))),
            f"{secs(batch + p50(d_off))} / {secs(batch + p95(d_off))}",
            f"{secs(batch + p50(d_on))} / {secs(batch + p95(d_on))}",
        )
    table.notes += [
        "Clock starts when the SDK's force_flush (the OTLP/HTTP export) returns; 4 emitters (own "
        "service, counter and store clients each, like 4 agent sessions) probe concurrently, "
        f"polled every {POLL_S * 1000:.0f} ms after a miss (a tool call that misses takes "
        "longer than a raw query: it also looks for why, e.g. close service names). "
        "raw = the store's own query API (LogsQL / PromQL instant query), tool = the core "
        "function the MCP tool wraps (query_logs, search_traces, query_metrics).",
        "flush on = the tools hold the stack's force-flush key (`obs-mcp stack env`): before a "
        "query whose window ends within 5 s of now they POST /internal/force_flush, at most once "
        "per 250 ms per store (a burst of calls shares one), and ask VictoriaMetrics for "
        "latency_offset=1ms. new series = the first point of a label set the store never saw.",
        f"floor = the collector's batch timeout ({batch * 1000:.0f} ms, collector/config.yaml) + "
        "the store's own ingest-to-visible time: the same SDK writes straight into the store "
        "(no collector) and the raw query (off) or the flushing tool (on) is polled.",
    ]
    return table


async def _main(probes: int) -> None:
    with isolated_stack() as (stack, _up_s):
        tools_table(await measure(stack, probes)).show()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    anyio.run(_main, args.probes)


if __name__ == "__main__":
    main()
