"""Freshness: from an OTLP export returning to the record being visible in its store.

Starts an isolated native stack on free ports (or uses a running one with --use-running),
then for each signal sends one record at a time with the OpenTelemetry SDK and polls the
store's query API until it appears. Reports p50/p95/max per signal.

    uv run python -m benchmarks.freshness --probes 50
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx2

from obs_mcp.stack.runner import Stack, StackPorts, StackSettings
from tests.otel_emit import Emitter, emitter

POLL_S = 0.02


def _poll(check: Callable[[], bool], timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(POLL_S)
    return float("nan")


def probe_log(em: Emitter, vl_url: str) -> float:
    marker = uuid.uuid4().hex
    em.logger.warning("freshness probe %s", marker)
    em.logger_provider.force_flush()

    def seen() -> bool:
        r = httpx2.get(f"{vl_url}/select/logsql/query", params={"query": f'"{marker}"', "limit": 1})
        return marker in r.text

    return _poll(seen)


def probe_span(em: Emitter, vt_url: str) -> float:
    with em.tracer.start_as_current_span("freshness probe") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    em.tracer_provider.force_flush()

    def seen() -> bool:
        r = httpx2.get(
            f"{vt_url}/select/logsql/query",
            params={"query": f'trace_id:="{trace_id}"', "limit": 1, "disable_latency_offset": "true"},
        )
        return trace_id in r.text

    return _poll(seen)


def probe_metric(em: Emitter, vm_url: str, counter: object, state: dict[str, int]) -> float:
    state["total"] += 1
    counter.add(1)  # type: ignore[attr-defined]
    em.reader.force_flush()
    query = f'freshness_probe_total{{service_name="{em.service}"}}'
    want = str(state["total"])

    def seen() -> bool:
        r = httpx2.get(f"{vm_url}/api/v1/query", params={"query": query}).json()
        result = r["data"]["result"]
        return bool(result) and result[0]["value"][1] == want

    return _poll(seen)


def measure(stack: Stack, probes: int) -> dict[str, list[float]]:
    s = stack.settings
    em = emitter(s.otlp_http_url, f"freshness-{uuid.uuid4().hex[:6]}")
    counter = em.meter.create_counter("freshness.probe")
    state = {"total": 0}
    probe_metric(em, s.vm_url, counter, state)  # register the series first (new series are slower)
    out: dict[str, list[float]] = {"log": [], "span": [], "metric point": []}
    for _ in range(probes):
        out["log"].append(probe_log(em, s.vl_url))
        out["span"].append(probe_span(em, s.vt_url))
        out["metric point"].append(probe_metric(em, s.vm_url, counter, state))
    em.shutdown()
    return out


def report(results: dict[str, list[float]]) -> str:
    lines = ["| signal | probes | p50 s | p95 s | max s |", "|---|---|---|---|---|"]
    for signal, values in results.items():
        ok = sorted(v for v in values if v == v)
        p95 = ok[min(len(ok) - 1, int(round(0.95 * (len(ok) - 1))))] if ok else float("nan")
        lines.append(
            f"| {signal} | {len(values)} | {statistics.median(ok):.2f} | {p95:.2f} | {max(ok):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--use-running", action="store_true", help="measure the default stack")
    args = parser.parse_args()
    if args.use_running:
        print(report(measure(Stack.from_state_dir(StackSettings().state_dir), args.probes)))
        return
    state_dir = Path(tempfile.mkdtemp(prefix="obs-mcp-bench-"))
    stack = Stack(StackSettings(state_dir=state_dir, ports=StackPorts.free()))
    try:
        stack.up(install=True)
        print(report(measure(stack, args.probes)))
    finally:
        stack.down(wipe=True, grace_seconds=5)
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
