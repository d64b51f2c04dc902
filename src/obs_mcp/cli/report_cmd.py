"""`obs-mcp report SERVICE`: the before/after (or one window's) report as one HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
from rich.markup import escape

from obs_mcp.cli.console import make_console
from obs_mcp.cli.outcome import OK, PROBLEM, USAGE
from obs_mcp.core.backends import open_backends
from obs_mcp.errors import InvalidArgument, ObsError

out = make_console()
err = make_console(stderr=True)
COMMANDS = {"report"}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="self-contained HTML report: verdict, error rate and latency over time, "
        "distribution, top errors, slowest trace (needs the `report` extra)",
    )
    p.add_argument("service")
    p.add_argument("-o", "--output", help="file to write (default obs-mcp-report-SERVICE.html)")
    for name in ("baseline-start", "baseline-end", "current-start", "current-end"):
        p.add_argument(f"--{name}")
    p.add_argument("--baseline-run", help="span/resource attribute run.id of the baseline")
    p.add_argument("--current-run", help="run.id of the current run")
    p.add_argument("--since", help="one window instead of a pair (default 15m)")
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--operation")


def run(a: argparse.Namespace) -> int:
    from obs_mcp.report import ReportUnavailable, Sides, write_report

    path = Path(a.output or f"obs-mcp-report-{a.service}.html".replace("/", "_"))

    sides = Sides(a.baseline_start, a.baseline_end, a.current_start, a.current_end,
                  a.baseline_run, a.current_run, a.since, a.start, a.end)  # fmt: skip

    async def go() -> Path:
        async with open_backends() as backends:
            return await write_report(backends, a.service, path, sides, a.operation)

    try:
        written = anyio.run(go)
    except (InvalidArgument, ReportUnavailable) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return USAGE
    except ObsError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return PROBLEM
    out.print(f"report written: {written}", highlight=False)
    return OK
