"""`obs-mcp fields|wait`: list_fields and wait_for_data for humans (same core functions).

`fields` prints a table per signal; `wait` prints its progress on stderr while it waits, and
exits 1 on timeout (so a script can `obs-mcp wait shop --min-requests 300 && ...`).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

from obs_mcp.cli.console import make_console
from obs_mcp.cli.query_cmd import execute
from obs_mcp.core import discovery, wait
from obs_mcp.core.backends import Backends
from obs_mcp.models import FieldSet, FieldsResult, WaitResult

out = make_console()
err = make_console(stderr=True)
COMMANDS = {"fields", "wait"}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fields", help="attribute keys of a service's spans and logs, top values")
    p.add_argument("service")
    p.add_argument("--since", default="15m")
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--signal", choices=["spans", "logs", "both"], default="both")
    p.add_argument("--keys", type=int, default=25, help="most frequent keys shown")
    p.add_argument("--values", type=int, default=5, help="top values per key")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("wait", help="wait until new requests / log lines of a service arrive")
    p.add_argument("service", nargs="?")
    p.add_argument("--run-id", help="run.id (span or resource attribute)")
    p.add_argument("--min-requests", type=int, default=1)
    p.add_argument("--min-logs", type=int, default=0)
    p.add_argument("--since", help="count from this long ago (default: from now)")
    p.add_argument("--start", help="count from this time: RFC3339 or unix seconds")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds, at most 30")
    p.add_argument("--json", action="store_true")


async def _progress(done: float, total: float, message: str) -> None:
    err.print(f"[dim]{done:5.1f}/{total:g}s[/] {message}", highlight=False)


def _call(a: argparse.Namespace) -> Callable[[Backends], Awaitable[BaseModel]]:
    if a.command == "fields":
        return lambda b: discovery.list_fields(
            b, a.service, a.since, a.start, a.end, a.signal, a.keys, a.values
        )
    return lambda b: wait.wait_for_data(
        b, a.service, a.run_id, a.min_requests, a.min_logs, a.since, a.start, a.timeout,
        None if a.json else _progress,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    return execute(_call(args), args.json, render)


def _fields(title: str, fields: FieldSet) -> Table:
    t = Table("key", "rows", "distinct", "top values (rows)", title=f"{title}: {fields.rows} rows")
    for f in fields.keys:
        distinct = f"{f.distinct}{'+' if f.distinct_capped else ''}"
        values = ", ".join(f"{v} ({n})" for v, n in f.values.items())
        more = f" +{f.values_omitted} more" if f.values_omitted else ""
        t.add_row(escape(f.key), str(f.hits), distinct, escape(values or "-") + more)
    return t


def render(result: BaseModel) -> None:
    notes: list[str | None] = []
    if isinstance(result, FieldsResult):
        for title, fields in (("spans", result.spans), ("logs", result.logs)):
            if fields is not None:
                out.print(_fields(f"{result.service} {title}", fields))
        notes += [result.hint, *result.warnings]
    elif isinstance(result, WaitResult):
        state = "[green]arrived[/]" if result.arrived else "[red]timed out[/]"
        out.print(
            f"{state} after {result.waited_s:g}s: {result.requests} requests "
            f"(newest {result.newest_request or '-'}), {result.logs} log lines "
            f"(newest {result.newest_log or '-'}) since {result.since}",
            highlight=False,
        )
        notes += [result.hint, *result.warnings]
    for note in notes:
        if note:
            err.print(f"[yellow]note:[/] {note}", highlight=False)
