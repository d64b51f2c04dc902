"""`obs-mcp compare|top-errors|overview|health`: the analysis tools' core, for humans.

Same core functions as the MCP tools; compact rich output, `--json` for the exact payload,
`overview --watch` for a live view refreshed every 2 s with per-operation trends, and
`compare` with before/after bars (cli/trends.py: plain text that fits 80 columns).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Awaitable, Callable

import anyio
from pydantic import BaseModel
from rich.console import Group as RichGroup
from rich.console import RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from obs_mcp.cli.console import make_console
from obs_mcp.cli.query_cmd import execute
from obs_mcp.cli.trends import compare_lines, series_lines
from obs_mcp.core import compare, health, overview, signatures
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.core.timeseries import request_series
from obs_mcp.errors import ObsError
from obs_mcp.models import (
    CompareResult,
    ErrorSignature,
    ServiceOverview,
    StackHealth,
    TopErrorsResult,
)
from obs_mcp.timeparse import resolve_window

out = make_console()
err = make_console(stderr=True)
COMMANDS = {"compare", "top-errors", "overview", "health"}
WATCH_SECONDS = 2.0
TREND_BUCKETS = 48


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compare", help="before/after verdict of a service (windows or run ids)")
    p.add_argument("service")
    for name in ("baseline-start", "baseline-end", "current-start", "current-end"):
        p.add_argument(f"--{name}")
    p.add_argument("--baseline-run", help="span attribute run.id of the baseline")
    p.add_argument("--current-run", help="span attribute run.id of the current run")
    p.add_argument("--operation")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser(
        "top-errors", help="incidents: where errors start, with what propagates them"
    )
    p.add_argument("service", nargs="?")
    p.add_argument("--since", default="15m")
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("overview", help="one page on a service (--watch: live)")
    p.add_argument("service")
    p.add_argument("--since", default="15m")
    p.add_argument("--watch", action="store_true", help=f"refresh every {WATCH_SECONDS:g}s")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("health", help="why is there no data: collector, stores, newest data")
    p.add_argument("service", nargs="?")
    p.add_argument("--json", action="store_true")


def _call(a: argparse.Namespace) -> Callable[[Backends], Awaitable[BaseModel]]:
    if a.command == "compare":
        return lambda b: compare.compare_runs(
            b, a.service, a.baseline_start, a.baseline_end, a.current_start, a.current_end,
            a.baseline_run, a.current_run, a.operation,
        )  # fmt: skip
    if a.command == "top-errors":
        return lambda b: signatures.top_errors(b, a.service, a.since, a.start, a.end, a.limit)
    if a.command == "overview":
        return lambda b: overview.service_overview(b, a.service, a.since)
    return lambda b: health.stack_health(b, a.service)


def run(args: argparse.Namespace) -> int:
    call = _call(args)
    if args.command == "overview" and args.watch and not args.json:
        return _watch(lambda b: watch_view(b, args.service, args.since))
    return execute(call, args.json, lambda result: out.print(render(result)))


def text_width() -> int:
    """Trend lines fill a terminal (up to 120 columns); piped, they fit 80."""
    return min(out.width, 120) if out.is_terminal else 80


async def watch_view(
    backends: Backends, service: str, since: str, width: int | None = None
) -> RenderableType:
    """The overview page, then requests/errors/p95 per operation over the same window."""
    result = await overview.service_overview(backends, service, since)
    start, end = (part.strip() for part in result.window.split(".."))
    window = resolve_window(None, start, end)
    series = await request_series(
        backends, service, window, by_operation=True, buckets=TREND_BUCKETS
    )
    trends = Text("\n".join(series_lines(series, width or text_width())))
    return RichGroup(render(result), trends)


def _watch(view_of: Callable[[Backends], Awaitable[RenderableType]]) -> int:
    async def loop() -> None:
        async with open_backends() as backends:
            with Live(Text("loading…"), console=out, auto_refresh=False) as live:
                while True:
                    try:
                        view = await view_of(backends)
                    except ObsError as exc:
                        view = Text(f"error: {exc}", style="red")
                    stamp = Text(time.strftime("%H:%M:%S") + "  (Ctrl-C to stop)", style="dim")
                    live.update(RichGroup(view, stamp), refresh=True)
                    await anyio.sleep(WATCH_SECONDS)

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(loop)
    return 0


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _opt(x: float | int | None) -> str:
    return "-" if x is None else f"{x:g}"


def _signatures(items: list[ErrorSignature], title: str) -> Table:
    t = Table("count", "service: operation", "error", "where", "sample trace", title=title)
    for s in items:
        error = f"{s.exception_type}: {s.message}" if s.exception_type else s.message
        t.add_row(
            str(s.count), f"{s.service}: {s.operation}", error, s.code_location or "-",
            s.sample_trace_id,
        )  # fmt: skip
    return t


def render(result: BaseModel) -> RenderableType:
    """One rich renderable per result type, hints last."""
    parts: list[RenderableType] = []
    notes: list[str] = []
    if isinstance(result, CompareResult):
        color = {"improved": "green", "regressed": "red", "mixed": "yellow"}.get(result.verdict)
        parts.append(Text(f"{result.service}: {result.verdict}", style=f"bold {color or ''}"))
        parts += [Text(f"  {r}") for r in result.reasons]
        parts.append(Text("\n".join(compare_lines(result, text_width())[1:])))
        t = Table("operation", "requests", "req/s", "error rate", "p50 ms", "p95 ms", "p99 ms")
        rows = [("ALL", result.baseline, result.current)] + [
            (o.operation, o.baseline, o.current) for o in result.operations
        ]
        for name, b, c in rows:
            t.add_row(
                name, f"{b.requests} -> {c.requests}", f"{_opt(b.per_s)} -> {_opt(c.per_s)}",
                f"{_pct(b.error_rate)} -> {_pct(c.error_rate)}",
                f"{_opt(b.p50_ms)} -> {_opt(c.p50_ms)}", f"{_opt(b.p95_ms)} -> {_opt(c.p95_ms)}",
                f"{_opt(b.p99_ms)} -> {_opt(c.p99_ms)}",
            )  # fmt: skip
        parts.append(t)
        for label, changes in (
            ("new", result.new_errors),
            ("gone", result.gone_errors),
            ("changed", result.changed_errors),
        ):
            for ch in changes:
                parts.append(Text(f"{label}: {ch.signature} ({ch.baseline} -> {ch.current})"))
        parts.append(Text(f"baseline {result.baseline_window}\ncurrent  {result.current_window}"))
        parts.append(Text(f"thresholds: {result.thresholds}", style="dim"))
        notes.append(result.hint or "")
    elif isinstance(result, TopErrorsResult):
        parts.append(_signatures(result.signatures, f"{result.error_spans} error spans"))
        parts += [Text(f"  log: {s.sample_log}") for s in result.signatures[:3] if s.sample_log]
        notes += [result.hint or "", *result.warnings]
    elif isinstance(result, ServiceOverview):
        r = result.red
        parts.append(
            Text(
                f"{result.service}  {r.requests} requests ({r.rate_per_s:g}/s), errors "
                f"{_pct(r.error_ratio)}, p95 {_opt(r.p95_ms)} ms  [{result.window}]",
                style="bold",
            )
        )
        t = Table("operation", "requests", "req/s", "errors", "error rate", "p50 ms", "p95 ms")
        for o in result.operations:
            t.add_row(
                o.operation, str(o.requests), f"{o.per_s:g}", str(o.errors), _pct(o.error_rate),
                _opt(o.p50_ms), _opt(o.p95_ms),
            )  # fmt: skip
        parts.append(t)
        if result.top_errors:
            parts.append(_signatures(result.top_errors, "top errors"))
        for log in result.error_logs:
            parts.append(Text(f"{log.time} {log.severity} {log.message}", style="red"))
        down = ", ".join(f"{n.service} ({n.calls}, {n.errors} err)" for n in result.downstream)
        up = ", ".join(f"{n.service} ({n.calls}, {n.errors} err)" for n in result.upstream)
        parts.append(Text(f"calls: {down or '-'}\ncalled by: {up or '-'}"))
        parts.append(Text(f"metrics: {', '.join(result.metric_names) or '-'}", style="dim"))
        notes += [result.hint or "", *result.warnings]
    elif isinstance(result, StackHealth):
        col = result.collector
        mark = "[green]up[/]" if col.up else "[red]DOWN[/]"
        parts.append(
            Text.from_markup(
                f"collector {mark} {col.url}  accepted {col.accepted} refused {col.refused} "
                f"sent {col.sent} failed {col.send_failed} queue {_opt(col.queue_size)}"
            )
        )
        t = Table("store", "up", "newest", "newest for service", "url")
        for s in result.stores:
            t.add_row(s.store, "up" if s.up else "DOWN", s.newest or "-",
                      s.newest_for_service or "-", s.url)  # fmt: skip
        parts.append(t)
        parts.append(Text("OK" if result.ok else "NOT OK", style="green" if result.ok else "red"))
        notes += result.hints
    parts += [Text(f"note: {n}", style="yellow") for n in notes if n]
    return RichGroup(*parts)
