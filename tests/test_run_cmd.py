"""`obs-mcp run` on the real stack: apps with no OpenTelemetry code, their figures and lines.

A Flask app lives in a virtualenv of its own that has no OpenTelemetry package at all; it
is started as a user would (`obs-mcp run -- <venv>/bin/python app.py`), driven with known
requests over real HTTP and stopped with SIGINT. Its figures are read back through the
query core and raw LogsQL and must equal what the test sent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from obs_mcp.config import Settings
from obs_mcp.core.backends import open_backends
from obs_mcp.core.compare import compare_runs
from obs_mcp.core.logs import query_logs
from obs_mcp.core.red import error_rate
from obs_mcp.run import pykit
from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from tests.known_telemetry import logsql

pytestmark = [pytest.mark.stack]
FLASK_STACK = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "blinker", "click")
START_S = 180.0  # the first run installs the kit for this interpreter
FLASK_APP = textwrap.dedent(
    """
    import json, sys
    from flask import Flask, abort

    app = Flask(__name__)

    @app.get("/ok")
    def ok():
        print("served ok")
        return "ok"

    @app.get("/fail")
    def fail():
        print(json.dumps({"level": "error", "msg": "failing on purpose", "order": 7}))
        abort(500)

    if __name__ == "__main__":
        print("WARNING: starting on purpose", file=sys.stderr)
        app.run(host="127.0.0.1", port=int(sys.argv[1]))
    """
)


def _obs_run(*args: str) -> list[str]:
    return [sys.executable, "-m", "obs_mcp.cli", "run", *args]


def _env(stack: Stack) -> dict[str, str]:
    ports = {f"OBS_MCP_PORT_{k.upper()}": str(v) for k, v in vars(stack.settings.ports).items()}
    return {**os.environ, **stack.settings.store_env(), **ports}


def _settings(stack: Stack) -> Settings:
    return Settings.from_env(stack.settings.store_env())


@pytest.fixture(scope="module")
def flask_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with Flask and nothing else: the versions of obs-mcp's own lock."""
    venv = tmp_path_factory.mktemp("flask-app") / "venv"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    pins = [f"{name}=={metadata.version(name)}" for name in FLASK_STACK]
    python = str(venv / "bin" / "python")
    subprocess.run([*uv, "pip", "install", "--quiet", "--python", python, *pins], check=True)
    listed = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print([d.metadata['Name'] for d in m.distributions()])"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "opentelemetry" not in listed.lower(), listed
    return venv


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    run_id: str
    service: str
    started: float
    ended: float


def _wait_port(port: int, proc: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.communicate()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"port {port} never opened: {proc.communicate()}")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _run_flask(stack: Stack, venv: Path, app: Path, service: str, ok: int, fail: int) -> Run:
    port = free_port("127.0.0.1")
    run_id = f"{service}-{uuid.uuid4().hex[:8]}"
    argv = _obs_run(
        "--service",
        service,
        "--run-id",
        run_id,
        "--",
        str(venv / "bin" / "python"),
        str(app),
        str(port),
    )
    started = time.time()
    proc = subprocess.Popen(
        argv, env=_env(stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_port(port, proc, time.monotonic() + START_S)
    codes = [_get(f"http://127.0.0.1:{port}/ok") for _ in range(ok)]
    codes += [_get(f"http://127.0.0.1:{port}/fail") for _ in range(fail)]
    assert codes == [200] * ok + [500] * fail
    ended = time.time()
    proc.send_signal(signal.SIGINT)  # as a Ctrl-C would: the child stops, telemetry flushes
    out, err = proc.communicate(timeout=90)
    return Run(proc.returncode, out, err, run_id, service, started, ended)


@pytest.fixture(scope="module")
def flask_runs(
    native_stack: Stack, flask_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Run, Run]]:
    app = tmp_path_factory.mktemp("flask-src") / "app.py"
    app.write_text(FLASK_APP, encoding="utf-8")
    service = f"flask-{uuid.uuid4().hex[:6]}"
    first = _run_flask(native_stack, flask_venv, app, service, ok=9, fail=3)
    second = _run_flask(native_stack, flask_venv, app, service, ok=5, fail=0)
    yield first, second


def test_output_passes_through_and_exit_code(flask_runs: tuple[Run, Run]) -> None:
    first, _ = flask_runs
    assert first.code == 0, first.stderr  # werkzeug ends cleanly on Ctrl-C; so does run
    assert first.stdout.count("served ok") == 9
    assert first.stdout.count('"failing on purpose"') == 3
    assert "WARNING: starting on purpose" in first.stderr


def test_says_what_was_instrumented(flask_runs: tuple[Run, Run]) -> None:
    first, _ = flask_runs
    assert "no OpenTelemetry instrumentation in its environment" in first.stderr
    assert "flask 3" in first.stderr
    line = next(ln for ln in first.stderr.splitlines() if ": instrumented " in ln)
    assert "flask" in line and "logging" in line, line


def test_summary_line_has_the_exact_figures(flask_runs: tuple[Run, Run]) -> None:
    first, second = flask_runs
    assert f"run id {first.run_id}" in first.stderr
    assert f"{first.service}: 12 requests, 3 errors (25.0%), p95 " in first.stderr, first.stderr
    assert "[the app's own count: 12 requests]" in first.stderr
    assert f"{second.service}: 5 requests, 0 errors (0.0%)" in second.stderr, second.stderr


async def test_error_rate_and_compare_runs_select_the_run(
    native_stack: Stack, flask_runs: tuple[Run, Run]
) -> None:
    first, second = flask_runs
    async with open_backends(_settings(native_stack)) as backends:
        rate = await error_rate(backends, first.service, since="30m")
        verdict = await compare_runs(
            backends, first.service, baseline_run=first.run_id, current_run=second.run_id
        )
    assert (rate.total, rate.errors) == (17, 3)
    assert {o.operation for o in rate.operations} == {"GET /ok", "GET /fail"}
    assert (verdict.baseline.requests, verdict.baseline.errors) == (12, 3)
    assert (verdict.current.requests, verdict.current.errors) == (5, 0)
    # the app's printed lines through the query_logs tool's core, by service and severity
    async with open_backends(_settings(native_stack)) as backends:
        failing = await query_logs(backends, '"failing on purpose"', first.service, since="30m")
        warned = await query_logs(backends, '"starting on purpose"', first.service, since="30m")
    assert [(r.severity, r.message) for r in failing.rows] == [("ERROR", "failing on purpose")] * 3
    assert [(r.severity, r.service) for r in warned.rows] == [("WARN", first.service)] * 2  # 2 runs


def test_lines_are_logs_with_severity_and_fields(
    native_stack: Stack, flask_runs: tuple[Run, Run]
) -> None:
    first, _ = flask_runs
    vl = native_stack.settings.vl_url
    mine = f'service.name:="{first.service}" run.id:="{first.run_id}"'
    printed = logsql(vl, f'{mine} _msg:="served ok"', limit="100")
    assert len(printed) == 9
    assert {r["severity_text"] for r in printed} == {"INFO"}
    assert {r["log.iostream"] for r in printed} == {"stdout"}
    failing = logsql(vl, f'{mine} _msg:="failing on purpose"', limit="100")
    assert len(failing) == 3
    assert {(r["severity_text"], r["order"]) for r in failing} == {("ERROR", "7")}
    warned = logsql(vl, f'{mine} _msg:="WARNING: starting on purpose"')
    assert [(r["severity_text"], r["log.iostream"]) for r in warned] == [("WARN", "stderr")]
    # werkzeug's access log: the SDK exports each record; its printed line is not sent again
    access = logsql(vl, f'{mine} "GET /ok HTTP/1.1"', limit="100")
    assert len(access) == 9
    assert not [r for r in access if "log.iostream" in r]
    exited = logsql(vl, f'{mine} _msg:~"exited with code 0"')
    assert len(exited) == 1 and exited[0]["process.exit_code"] == "0"


STDLIB_APP = textwrap.dedent(
    """
    import json, sys
    print("plain line one")
    print(json.dumps({"level": "debug", "message": "json line", "user": "bob", "n": 3}))
    print("something ERROR-worthy: ERROR disk full", file=sys.stderr)
    sys.exit(int(sys.argv[1]))
    """
)


def test_stdlib_program_exit_code_and_lines(native_stack: Stack, tmp_path: Path) -> None:
    app = tmp_path / "tool.py"
    app.write_text(STDLIB_APP, encoding="utf-8")
    service, run_id = f"tool-{uuid.uuid4().hex[:6]}", f"r-{uuid.uuid4().hex[:8]}"
    argv = _obs_run("--service", service, "--run-id", run_id, "--", sys.executable, str(app), "3")
    done = subprocess.run(argv, env=_env(native_stack), capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines()[:1] == ["plain line one"]
    assert "exited with code 3" in done.stderr
    rows = logsql(
        native_stack.settings.vl_url, f'service.name:="{service}" run.id:="{run_id}"', limit="50"
    )
    by_msg = {r["_msg"]: r for r in rows}
    assert by_msg["plain line one"]["severity_text"] == "INFO"
    assert (
        by_msg["json line"]["severity_text"],
        by_msg["json line"]["user"],
        by_msg["json line"]["n"],
    ) == ("DEBUG", "bob", "3")
    assert by_msg["something ERROR-worthy: ERROR disk full"]["severity_text"] == "ERROR"
    assert len([m for m in by_msg if m.startswith("obs-mcp run:")]) == 1


def test_inherited_traceparent_puts_the_run_in_that_trace(
    native_stack: Stack, tmp_path: Path
) -> None:
    app = tmp_path / "span.py"
    app.write_text(
        "from opentelemetry import trace\n"
        "with trace.get_tracer('t').start_as_current_span('inside the child'):\n    pass\n",
        encoding="utf-8",
    )
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    service = f"tp-{uuid.uuid4().hex[:6]}"
    env = {**_env(native_stack), "TRACEPARENT": f"00-{trace_id}-{parent}-01"}
    argv = _obs_run("--service", service, "--", sys.executable, str(app))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = _spans(native_stack, f'trace_id:="{trace_id}"', 2)
    spans = {r["name"]: r for r in rows}
    run_span = spans[f"obs-mcp run {Path(sys.executable).name}"]
    assert run_span["parent_span_id"] == parent
    assert spans["inside the child"]["parent_span_id"] == run_span["span_id"]


def _spans(stack: Stack, query: str, want: int) -> list[dict[str, str]]:
    """Span rows of a raw LogsQL query, polled until `want` are there (or 30 s passed)."""
    deadline = time.monotonic() + 30
    rows = logsql(stack.settings.vt_url, query, limit="20")
    while len(rows) < want and time.monotonic() < deadline:
        time.sleep(0.3)
        rows = logsql(stack.settings.vt_url, query, limit="20")
    return rows


def test_kit_pins_match_the_lock() -> None:
    assert metadata.version("opentelemetry-sdk") == pykit.OTEL_SDK
    assert metadata.version("opentelemetry-distro") == pykit.OTEL_CONTRIB


def test_no_command_is_a_usage_error() -> None:
    done = subprocess.run(_obs_run(), capture_output=True, text=True)
    assert done.returncode == 2 and "give a command" in done.stderr


def test_missing_command_exits_127(native_stack: Stack) -> None:
    argv = _obs_run("--", "no-such-command-obs-mcp")
    done = subprocess.run(argv, env=_env(native_stack), capture_output=True, text=True, timeout=60)
    assert done.returncode == 127 and "command not found" in done.stderr


SLOW_SPAN = textwrap.dedent(
    """
    import sys, time
    from opentelemetry import trace
    with trace.get_tracer("t").start_as_current_span("before the signal"):
        pass
    print("ready", flush=True)
    time.sleep(120)
    """
)


def test_sigterm_reaches_the_child_which_still_flushes(native_stack: Stack, tmp_path: Path) -> None:
    app = tmp_path / "slow.py"
    app.write_text(SLOW_SPAN, encoding="utf-8")
    service = f"term-{uuid.uuid4().hex[:6]}"
    argv = _obs_run("--service", service, "--", sys.executable, str(app))
    proc = subprocess.Popen(
        argv, env=_env(native_stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 128 + signal.SIGTERM, err
    query = f'"resource_attr:service.name":="{service}" name:="before the signal"'
    assert len(_spans(native_stack, query, 1)) == 1, err


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_sigint_stops_a_child_started_in_the_background(
    native_stack: Stack, tmp_path: Path
) -> None:
    """A shell starts `obs-mcp run ... &` with SIGINT ignored (as an agent's background Bash
    does), and an ignored signal outlives exec: a Ctrl-C sent to `obs-mcp run` must still stop
    the child, which flushes its telemetry on the way out."""
    app = tmp_path / "slow.py"
    app.write_text(SLOW_SPAN, encoding="utf-8")
    service = f"bgint-{uuid.uuid4().hex[:6]}"
    argv = _obs_run("--service", service, "--", sys.executable, str(app))
    proc = subprocess.Popen(
        argv, env=_env(native_stack), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # the child ignored it: do not leave `obs-mcp run` behind
            proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "KeyboardInterrupt" in err  # the child stopped on it, not on a later SIGKILL
    query = f'"resource_attr:service.name":="{service}" name:="before the signal"'
    assert len(_spans(native_stack, query, 1)) == 1, err


def test_node_with_and_without_auto_instrumentations(native_stack: Stack, tmp_path: Path) -> None:
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.skip("node is not installed")
    script = tmp_path / "app.js"
    script.write_text("console.log('node says hi')\n", encoding="utf-8")
    argv = _obs_run("--no-summary", "--", node_bin, str(script))
    bare = subprocess.run(
        argv, cwd=tmp_path, env=_env(native_stack), capture_output=True, text=True, timeout=60
    )
    assert bare.returncode == 0 and bare.stdout == "node says hi\n"
    assert (
        "npm install --save-dev @opentelemetry/api @opentelemetry/auto-instrumentations-node"
        in bare.stderr
    )
    # The package's entry point as npm lays it out; here it only proves node loaded it.
    package = tmp_path / "node_modules" / "@opentelemetry" / "auto-instrumentations-node"
    (package / "build" / "src").mkdir(parents=True)
    (package / "package.json").write_text('{"name": "@opentelemetry/auto-instrumentations-node"}')
    (package / "build" / "src" / "register.js").write_text(
        "console.log('registered for ' + process.env.OTEL_SERVICE_NAME)\n"
    )
    loaded = subprocess.run(
        [*argv[:5], "--service", "nodeapp", *argv[5:]], cwd=tmp_path, env=_env(native_stack),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "registered for nodeapp\nnode says hi\n"
    assert f"Node: instrumented with {package}" in loaded.stderr
