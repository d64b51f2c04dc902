"""`obs-mcp stack ...`: the native stack for humans (tables, progress, clear failures)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.table import Table

from obs_mcp.cli.console import make_console
from obs_mcp.stack.install import InstallError, install_all
from obs_mcp.stack.runner import (
    Stack,
    StackError,
    StackSettings,
    default_state_dir,
    stopped_all,
)

err = make_console(stderr=True)
out = make_console()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = sub.add_parser("stack", help="install, start, stop and inspect the native stack")
    stack.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where data, logs and pids live (env OBS_MCP_STATE_DIR; default "
        "~/.local/state/obs-mcp)",
    )
    actions = stack.add_subparsers(dest="action", required=True)
    actions.add_parser("install", help="build the pinned binaries from Go modules (once)")
    up = actions.add_parser("up", help="start the stack and wait until every part is healthy")
    up.add_argument("--no-install", action="store_true", help="fail instead of building")
    down = actions.add_parser("down", help="stop the stack (data kept)")
    down.add_argument("--wipe", action="store_true", help="also delete all stored data")
    down.add_argument("--grace", type=float, default=10.0, help="seconds before SIGKILL")
    actions.add_parser("status", help="show each component's health, port, pid, version, size")
    logs = actions.add_parser("logs", help="show a component's log")
    logs.add_argument("component", nargs="?", default=None)
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    actions.add_parser("env", help="print the env vars that point tools and apps at this stack")
    sources = actions.add_parser(
        "sources",
        help="show the log files and /metrics targets of the sources file (OBS_MCP_SOURCES, "
        "default <state dir>/sources.toml) and whether each delivers",
    )
    sources.add_argument(
        "--compose",
        type=Path,
        metavar="DIR",
        default=None,
        help="render the sources for compose into DIR (an override file to pass with -f)",
    )


def _stack(args: argparse.Namespace) -> Stack:
    state_dir = args.state_dir or default_state_dir()
    if (state_dir / "stack.json").exists():
        return Stack.from_state_dir(state_dir)
    return Stack(StackSettings(state_dir=state_dir))


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def print_status(stack: Stack) -> bool:
    rows = stack.status()
    table = Table(title=f"obs-mcp stack ({stack.state_dir})")
    for column in ("component", "state", "port", "pid", "version", "data", "UI / endpoint"):
        table.add_column(column)
    for row in rows:
        state = (
            "[green]healthy[/]"
            if row.healthy
            else "[yellow]running, unhealthy[/]"
            if row.running
            else "[red]stopped[/]"
        )
        table.add_row(
            row.title,
            state,
            f"127.0.0.1:{row.port}" if stack.settings.host == "127.0.0.1" else str(row.port),
            str(row.pid or "-"),
            row.version,
            _size(row.data_bytes),
            row.ui_url or "-",
        )
    out.print(table)
    for row in rows:
        for note in row.notes:
            out.print(f"{row.title}: {note}", highlight=False)
    s = stack.settings
    out.print(
        f"OTLP in: grpc {s.otlp_grpc_endpoint}, http {s.otlp_http_url}   "
        f"VM_URL={s.vm_url} VL_URL={s.vl_url} VT_URL={s.vt_url}",
        highlight=False,
    )
    return bool(rows) and all(row.healthy for row in rows)


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "install":
            results = install_all(_say)
            for result in results:
                where = result.binary.path if result.binary else result.note
                _say(f"{result.component.title}: {where}")
            return 0
        stack = _stack(args)
        if args.action == "up":
            stack.up(report=_say, install=not args.no_install)
            return 0 if print_status(stack) else 1
        if args.action == "down":
            lines = stack.down(wipe=args.wipe, grace_seconds=args.grace)
            for line in lines:
                _say(line)
            return 0 if stopped_all(lines) else 1
        if args.action == "status":
            return 0 if print_status(stack) else 1
        if args.action == "env":
            for key, value in stack.settings.store_env().items():
                print(f"export {key}={value}")
            return 0
        if args.action == "sources":
            from obs_mcp.cli import sources_cmd  # the store clients load only for this

            return sources_cmd.run(stack, args.compose)
        if args.action == "logs":
            return _logs(stack, args.component, args.lines, args.follow)
    except (StackError, InstallError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    return 2


def _logs(stack: Stack, component: str | None, lines: int, follow: bool) -> int:
    from obs_mcp.stack import procs

    names = [component] if component else [s.name for s in stack.status()]
    for name in names:
        path = stack.log_path(name)
        if not path.exists():
            err.print(f"no log for {name!r} at {path}")
            continue
        print(f"==> {path} <==")
        print(procs.tail(path, lines))
    if follow and component:
        path = stack.log_path(component)
        with path.open() as handle:
            handle.seek(0, 2)
            try:
                while True:
                    line = handle.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.2)
            except KeyboardInterrupt:
                return 0
    return 0
