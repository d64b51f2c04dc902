"""`obs-mcp run [--service NAME] [--run-id ID] [--] COMMAND...`: any command under the stack.

The command runs as it would without obs-mcp (same stdin, output, exit status), with the
OTel environment of this stack, zero-code instrumentation for Python and Node, and each
line it prints also sent as a log record of its service. At exit: the run id, duration,
exit status and the run's figures, read back through the same core as compare_runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import anyio

from obs_mcp.config import Settings
from obs_mcp.errors import ObsError
from obs_mcp.run import node, pykit, summary
from obs_mcp.run.announced import Announced
from obs_mcp.run.command import classify
from obs_mcp.run.env import TraceParent, child_env, default_service, new_run_id
from obs_mcp.run.lines import Line, parse
from obs_mcp.run.otlp import RunSpan, Shipper
from obs_mcp.run.pump import Child
from obs_mcp.run.status import Reports
from obs_mcp.stack.runner import StackSettings

COMMANDS = {"run"}
NOT_FOUND, NOT_EXECUTABLE, USAGE = 127, 126, 2


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run any command under the stack: OTel env, zero-code Python/Node "
        "instrumentation, its output as logs, a closing summary",
    )
    p.add_argument("--service", help="service name (default: the command's or directory's)")
    p.add_argument("--run-id", help="run id for compare_runs (default: service-time-random)")
    p.add_argument("--no-summary", action="store_true", help="exit without the figures")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND")


def _say(line: str) -> None:
    print(f"obs-mcp run: {line}", file=sys.stderr, flush=True)


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 1.0):
            return True
    except OSError:
        return False


def _instrument(argv: list[str], env: dict[str, str]) -> None:
    """Add what instruments the command to `env`, and say what it is."""
    cmd = classify(argv, env.get("PATH"))
    if cmd.kind == "python" and cmd.interpreter:
        try:
            plan = pykit.plan(cmd.interpreter, env, _say)
        except pykit.KitError as exc:
            _say(f"Python: NOT instrumented: {exc}")
            return
        env.update(plan.env)
        for note in plan.notes:
            _say(note)
    elif cmd.kind == "node":
        extra, note = node.plan(argv, Path.cwd(), env)
        env.update(extra)
        _say(note)
    elif cmd.executable:
        _say(
            f"{os.path.basename(cmd.executable)} is not a Python or Node program: its output "
            "becomes logs; an OpenTelemetry SDK inside it reads the OTEL_* settings given"
        )


def run(args: argparse.Namespace) -> int:
    argv = list(args.cmd)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        _say("give a command: obs-mcp run [--service NAME] [--run-id ID] -- COMMAND ...")
        return USAGE
    service = args.service or default_service(argv, os.getcwd())
    run_id = args.run_id or new_run_id(service)
    stack = StackSettings()
    endpoint = stack.otlp_http_url
    base = dict(os.environ)
    parent = TraceParent.inherited(base)
    trace = parent or TraceParent(secrets.token_hex(16), "")
    span_id = secrets.token_hex(8)
    env = child_env(base, service, run_id, endpoint, trace.child(span_id))
    up = _reachable(endpoint)
    _say(
        f"run id {run_id}, service {service}, telemetry to {endpoint}"
        + ("" if up else " - NOT reachable: start the stack with `obs-mcp stack up`")
        + (f", inside trace {trace.trace_id}" if parent else "")
    )
    with tempfile.TemporaryDirectory(prefix="obs-mcp-run-") as status_dir:
        env["OBS_MCP_RUN_STATUS_DIR"] = status_dir
        _instrument(argv, env)
        return _run(args, argv, env, service, run_id, endpoint if up else None, trace, span_id)


def _run(
    args: argparse.Namespace,
    argv: list[str],
    env: dict[str, str],
    service: str,
    run_id: str,
    endpoint: str | None,
    trace: TraceParent,
    span_id: str,
) -> int:
    resource = {"service.name": service, "run.id": run_id,
                "process.executable.name": os.path.basename(argv[0])}  # fmt: skip
    shipper = Shipper(endpoint, resource) if endpoint else None
    reports = Reports(Path(env["OBS_MCP_RUN_STATUS_DIR"]), _say)
    announced = Announced()
    env.update(announced.env)

    def on_line(text: str, stream: str) -> None:
        if shipper is not None and not announced.consume(text):
            shipper.add(parse(text, stream))

    started = datetime.now(UTC)
    try:
        child = Child(argv, env, on_line, pass_fds=(announced.write_fd,))
    except FileNotFoundError:
        _say(f"command not found: {argv[0]}")
        code = NOT_FOUND
    except PermissionError:
        _say(f"not executable: {argv[0]}")
        code = NOT_EXECUTABLE
    else:
        announced.child_started()
        code = child.wait()
        if child.undrained:
            _say("processes the command left running still hold its output: stopped reading")
    reports.close()
    announced.close()
    seconds = (datetime.now(UTC) - started).total_seconds()
    command = shlex.join(argv)
    _say(f"run id {run_id}: `{command[:200]}` exited with code {code} after {seconds:.1f}s")
    if shipper is None:
        return code
    shipper.add(
        Line(
            body=f"obs-mcp run: `{command[:500]}` exited with code {code} after {seconds:.1f}s",
            stream="",
            severity_text="INFO" if code == 0 else "WARN",
            severity_number=9 if code == 0 else 13,
            attributes={"process.exit_code": code, "process.command_line": command[:1000]},
        )
    )
    shipper.send_span(
        RunSpan(
            trace_id=trace.trace_id,
            span_id=span_id,
            parent_span_id=trace.span_id,
            name=f"obs-mcp run {os.path.basename(argv[0])}",
            start_ns=int(started.timestamp() * 1e9),
            end_ns=time.time_ns(),
            attributes={
                "run.id": run_id,
                "process.exit_code": code,
                "process.command_line": command[:1000],
            },
        )
    )
    shipper.close()
    if shipper.failed or shipper.dropped:
        _say(
            f"{shipper.failed + shipper.dropped} of {shipper.sent + shipper.failed + shipper.dropped}"
            f" log records were not delivered to {endpoint}: {shipper.last_error or 'queue full'}"
        )
    if not args.no_summary and shipper.sent:
        _summary(env, service, run_id, started, reports, shipper.sent)
    return code


def _summary(
    env: dict[str, str], service: str, run_id: str, started: datetime, reports: Reports, logs: int
) -> None:
    counted, silent = reports.entry_spans()
    instrumented = any(not r.get("error") for r in reports.started())
    settings = Settings.from_env({**StackSettings().store_env(), **os.environ})
    try:
        figures = anyio.run(summary.run_figures, settings, service, run_id, started, counted, logs)
    except ObsError as exc:
        _say(f"no figures: {exc}")
        return
    except KeyboardInterrupt:
        return
    _say(summary.figures_line(service, figures, counted if instrumented else None))
    if not figures.waited.arrived:
        _say(f"not everything arrived: {figures.waited.hint}")
    if silent:
        _say(
            f"pids {', '.join(silent)} sent no exit report (killed?): their requests may be missing"
        )
    _say(
        f'compare it with a later run: compare_runs(service="{service}", baseline_run="{run_id}", '
        f"current_run=...) or `obs-mcp compare {service} --baseline-run {run_id} --current-run ...`"
    )
