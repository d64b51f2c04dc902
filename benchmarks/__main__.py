"""`python -m benchmarks [--quick] [--out docs/BENCHMARKS.md]`: the whole benchmark suite.

Runs on an isolated native stack (free ports, temp state dir, wiped afterwards), prints each
section's table as it goes and writes them, with the machine's facts, to a markdown file.
Benchmarks measure and report; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from benchmarks import answer_size, coldstart, flush_cost, freshness, overhead, scale
from benchmarks.common import Table, isolated_stack, machine_facts

GOALS = """\
| figure | goal |
|---|---|
| freshness (export -> tool sees it) | p95 <= 1 s for logs, spans, metric points and a new series's first point, flush on |
| tool call over stdio vs raw HTTP | small constant overhead (a few ms) |
| correlate_trace of a 2,000-span trace | < 10k tokens, root + every error span + omitted counts |
| ingest | >= 1M spans and >= 1M log lines, nothing lost |
| `obs-mcp stack up` (fresh state dir) | < 3 s |
| `python -m obs_mcp` to first tools/list | < 1 s, or <= 1.2x a bare MCPServer (same run) |
| force-flush | kept where it pays: store CPU idle and under ingest, with and without |
"""


async def run(args: argparse.Namespace) -> tuple[int, str]:
    quick: bool = args.quick
    facts = machine_facts()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    tables: list[Table] = []
    failures: list[str] = []
    began = time.monotonic()
    timings: list[str] = []

    async def section(name: str, body: Callable[[], Awaitable[list[Table]]]) -> None:
        started = time.monotonic()
        print(f"\n== {name} ...", flush=True)
        try:
            for table in await body():
                tables.append(table if table.shown else table.show())
        except Exception as exc:  # a broken section is reported, the others still run
            traceback.print_exc()
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        timings.append(f"{name} {time.monotonic() - started:.0f} s")

    probes = 20 if quick else 50
    items = 50_000 if quick else 1_000_000
    calls = 10 if quick else 30
    with isolated_stack() as (stack, up_s):
        print(f"isolated stack healthy in {up_s:.2f} s ({stack.state_dir})", flush=True)

        async def fresh() -> list[Table]:
            return [freshness.tools_table(await freshness.measure(stack, probes))]

        service = answer_size.SERVICES[1]

        async def size() -> list[Table]:
            table, _ = await answer_size.measure(stack)
            return [table]

        async def over() -> list[Table]:
            return [await overhead.measure(stack, service, 20 if quick else 50)]

        async def cold() -> list[Table]:
            return [await coldstart.measure(stack, 2 if quick else 3, up_s)]

        async def big() -> list[Table]:
            return await scale.measure(stack, items, calls)

        async def flush() -> list[Table]:
            return [await flush_cost.measure(stack, items // 20, items // 50)]

        sections = {
            "freshness": fresh,
            "answer size": size,
            "tool overhead": over,
            "cold starts": cold,
            "scale": big,
            "flush cost": flush,
        }
        for name, body in sections.items():
            if not args.only or name in args.only:
                await section(name, body)
    total = time.monotonic() - began
    order = ["1.", "2.", "3.", "4a", "4b", "5.", "6."]
    tables.sort(key=lambda t: next((i for i, o in enumerate(order) if t.title.startswith(o)), 9))
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    mode = "--quick (50k spans / 50k logs, 20 probes)" if quick else "full"
    if args.only:
        mode += f", only {', '.join(args.only)}"
    lines = [
        "# Benchmarks",
        "",
        "Measured, not asserted: `make bench` (= `python -m benchmarks`) starts an isolated "
        "native stack (free ports, temp state dir, wiped afterwards), runs every section "
        "against it and writes this file. Nothing here passes or fails.",
        "",
        "Reproduce: `make bench` (full: 1M spans + 1M log lines; about 3 min on the 2-core "
        "machine below, budget < 15 min) or `make bench BENCH_ARGS=--quick` "
        "(50k/50k, about 1 min; `--out PATH` to write elsewhere).",
        "",
        f"Run: {mode}, {total / 60:.1f} min total ({', '.join(timings)}).",
        "",
        "## Machine",
        "",
        "| fact | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in facts.items()],
        f"| load average at end | {load_end} |",
        "",
        "The machine is shared (other test suites may run); absolute timings carry that noise.",
        "",
        "## Goals",
        "",
        GOALS,
        "## Results",
        "",
    ]
    lines += [table.markdown() for table in tables]
    if failures:
        lines += ["## Sections that failed", "", *[f"- {f}" for f in failures], ""]
    return (1 if failures else 0), "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k spans/logs, fewer probes")
    parser.add_argument("--out", default="docs/BENCHMARKS.md")
    parser.add_argument(
        "--only",
        type=lambda text: [part.strip() for part in text.split(",")],
        help="comma-separated sections, e.g. 'freshness,cold starts,flush cost' (write --out "
        "elsewhere: the file then holds only those)",
    )
    args = parser.parse_args()
    code, text = anyio.run(run, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"\nwrote {out}", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
