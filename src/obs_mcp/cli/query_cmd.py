"""`obs-mcp logs|metrics|traces|correlate|errors|services`: the tools' core, for humans.

Same functions as the MCP tools; tables by default, `--json` for the exact tool payload.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel
from rich.table import Table

from obs_mcp.cli.console import make_console
from obs_mcp.cli.outcome import OK, PROBLEM, USAGE, problem
from obs_mcp.core import correlate, logs, metrics, red, services, traces
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.errors import InvalidArgument, ObsError
from obs_mcp.models import (
    CorrelatedTrace,
    ErrorRateResult,
    LogsResult,
    MetricsResult,
    ServicesResult,
    TracesResult,
    compact_json,
)

out = make_console()
err = make_console(stderr=True)


def _time_args(parser: argparse.ArgumentParser, since: str | None) -> None:
    parser.add_argument("--since", default=since, help=f"relative window (default {since})")
    parser.add_argument("--start", help="RFC3339 or unix seconds (wins over --since)")
    parser.add_argument("--end", help="RFC3339 or unix seconds (default now)")
    parser.add_argument("--json", action="store_true", help="print the tool's JSON result")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("services", help="services seen in traces, logs and metrics")
    _time_args(p, "1h")
    p = sub.add_parser("errors", help="exact error rate and latency of a service (from spans)")
    p.add_argument("service")
    p.add_argument("--operation")
    _time_args(p, "5m")
    p = sub.add_parser("traces", help="search traces of a service")
    p.add_argument("service")
    p.add_argument("--operation")
    p.add_argument("--errors", action="store_true", help="only traces with an error span")
    p.add_argument("--min-duration")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--limit", type=int, default=20)
    _time_args(p, "1h")
    p = sub.add_parser("correlate", help="a trace's span tree with its logs and RED")
    p.add_argument("trace_id")
    p.add_argument("--max-spans", type=int, default=500)
    p.add_argument("--max-logs", type=int, default=100)
    p.add_argument("--max-tokens", type=int, default=8000, help="answer budget (chars/4)")
    _time_args(p, None)
    p = sub.add_parser("logs", help="LogsQL query over VictoriaLogs")
    p.add_argument("query", nargs="?", default="*")
    p.add_argument("--service")
    p.add_argument("--limit", type=int, default=50)
    _time_args(p, "15m")
    p = sub.add_parser("metrics", help="PromQL/MetricsQL query over VictoriaMetrics")
    p.add_argument("query")
    p.add_argument("--step")
    _time_args(p, None)


COMMANDS = {"services", "errors", "traces", "correlate", "logs", "metrics"}


def _call(args: argparse.Namespace) -> Callable[[Backends], Awaitable[BaseModel]]:
    a = args
    if a.command == "services":
        return lambda b: services.list_services(b, a.since, a.start, a.end)
    if a.command == "errors":
        return lambda b: red.error_rate(b, a.service, a.since, a.start, a.end, a.operation)
    if a.command == "traces":
        tags = dict(t.split("=", 1) for t in a.tag if "=" in t) or None
        return lambda b: traces.search_traces(
            b,
            a.service,
            a.operation,
            a.errors,
            a.min_duration,
            tags,
            a.since,
            a.start,
            a.end,
            a.limit,
        )
    if a.command == "correlate":
        return lambda b: correlate.correlate_trace(
            b, a.trace_id, a.max_spans, a.max_logs, a.max_tokens, a.since, a.start, a.end
        )
    if a.command == "logs":
        return lambda b: logs.query_logs(b, a.query, a.service, a.since, a.start, a.end, a.limit)
    return lambda b: metrics.query_metrics(b, a.query, a.since, a.start, a.end, a.step)


def run(args: argparse.Namespace) -> int:
    return execute(_call(args), args.json, render)


def execute(
    call: Callable[[Backends], Awaitable[BaseModel]],
    as_json: bool,
    show: Callable[[BaseModel], None],
) -> int:
    """Run one core call against the stores; print its JSON or its human rendering."""

    async def go() -> BaseModel:
        async with open_backends() as backends:
            return await call(backends)

    try:
        result = anyio.run(go)
    except InvalidArgument as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return USAGE
    except ObsError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return PROBLEM
    if as_json:
        print(compact_json(result))
    else:
        show(result)
    if why := problem(result):
        err.print(f"[yellow]exit 1:[/] {why}", highlight=False)
        return PROBLEM
    return OK


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _opt(x: Any) -> str:
    return "-" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def render(result: BaseModel) -> None:
    """A compact table per result type; hints and warnings printed below."""
    if isinstance(result, ServicesResult):
        t = Table("service", "spans", "newest span", "logs", "newest log", "newest metric")
        for s in result.services:
            t.add_row(
                s.service,
                _opt(s.spans),
                _opt(s.newest_span),
                _opt(s.logs),
                _opt(s.newest_log),
                _opt(s.newest_metric),
            )
        out.print(t)
    elif isinstance(result, ErrorRateResult):
        out.print(
            f"[bold]{result.service}[/] {result.window}: {result.total} requests, {result.errors} errors "
            f"= [bold]{_pct(result.error_rate)}[/]; p50 {_opt(result.p50_ms)} ms, p95 "
            f"{_opt(result.p95_ms)} ms, p99 {_opt(result.p99_ms)} ms\n[dim]{result.source}[/]"
        )
        t = Table("operation", "total", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms")
        for o in result.operations:
            t.add_row(
                o.operation,
                str(o.total),
                str(o.errors),
                _pct(o.error_rate),
                _opt(o.p50_ms),
                _opt(o.p95_ms),
                _opt(o.p99_ms),
            )
        out.print(t)
    elif isinstance(result, TracesResult):
        t = Table("trace_id", "start", "root", "ms", "spans", "errors", "services")
        for tr in result.traces:
            root = f"{tr.root_service}: {tr.root_operation}"
            t.add_row(
                tr.trace_id,
                tr.start_time,
                root,
                _opt(tr.duration_ms),
                str(tr.span_count),
                str(tr.error_count),
                ",".join(tr.services),
            )
        out.print(t)
    elif isinstance(result, CorrelatedTrace):
        _render_trace(result)
    elif isinstance(result, LogsResult):
        for row in result.rows:
            ids = f" trace={row.trace_id}" if row.trace_id else ""
            out.print(
                f"{row.time} {row.service or '-'} {row.severity or '-'} {row.message}{ids}",
                highlight=False,
                markup=False,
            )
    elif isinstance(result, MetricsResult):
        for series in result.series:
            labels = ",".join(f"{k}={v}" for k, v in series.labels.items())
            if series.values is None:
                line = f"{{{labels}}} {series.value:g} @ {series.time}"
            else:
                last = series.values[-1] if series.values else None
                line = f"{{{labels}}} {len(series.values)} points, last {last}"
            out.print(line, highlight=False, markup=False)
    for note in [getattr(result, "hint", None), *getattr(result, "warnings", [])]:
        if note:
            err.print(f"[yellow]note:[/] {note}", highlight=False)
    for name, url in getattr(result, "links", {}).items():
        out.print(f"open ({name}): {url}", highlight=False, markup=False)


def _render_trace(result: CorrelatedTrace) -> None:
    if not result.found:
        return
    out.print(
        f"trace {result.trace_id}: {result.span_count} spans ({result.error_count} errors), "
        f"{_opt(result.duration_ms)} ms, services {', '.join(result.services)}"
    )
    for span in result.spans:
        mark = "[red]ERROR[/]" if span.status == "error" else "ok"
        crit = " [bold]*[/]" if span.critical else ""
        what = f"{span.operation} ×{span.repeat.count}" if span.repeat else span.operation
        took = (
            f"{span.repeat.total_ms:g}ms total ({span.repeat.min_ms:g}-{span.repeat.max_ms:g})"
            if span.repeat
            else f"{span.duration_ms:g}ms (self {span.self_ms:g})"
        )
        out.print(
            f"{'  ' * span.depth}{span.service}: {what} [{span.kind}] "
            f"+{span.start_offset_ms:g}ms {took} {mark}{crit}",
            highlight=False,
        )
        for key in ("exception.type", "exception.message", "http.response.status_code"):
            if key in span.attributes:
                out.print(
                    f"{'  ' * span.depth}  {key}={span.attributes[key]}",
                    highlight=False,
                    markup=False,
                )
        for log in span.logs:
            out.print(
                f"{'  ' * span.depth}  » {log.severity} {log.message}",
                highlight=False,
                markup=False,
            )
    for group in result.omitted:
        errors = f", {group.errors} errors" if group.errors else ""
        out.print(
            f"  (not shown) {group.service}: {group.operation} ×{group.count}, "
            f"{group.total_ms:g}ms{errors}",
            highlight=False,
            markup=False,
        )
    for snap in result.red:
        out.print(
            f"RED {snap.service}: {snap.rate_per_s:g}/s, errors {_pct(snap.error_ratio)}, p95 {_opt(snap.p95_ms)} ms"
        )
    dumped = json.dumps(result.orphan_logs and [o.message for o in result.orphan_logs[:5]])
    if result.orphan_logs:
        out.print(f"logs not under a shown span: {dumped}", highlight=False, markup=False)
