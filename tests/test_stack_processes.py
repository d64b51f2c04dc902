"""Processes and data dirs the stack can trust, on real processes:

`down` stops what `up` recorded (also through a wrapper script) or says why not, and never
a process that merely got a recorded pid later; `up` names who holds a data dir or port
before it starts anything, and a failed `up` stops what it started, no more.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from obs_mcp.stack import procs
from obs_mcp.stack.components import VICTORIALOGS, resolve_binary
from obs_mcp.stack.holders import lock_holder
from obs_mcp.stack.install import install_all
from obs_mcp.stack.preflight import explain_exit
from obs_mcp.stack.runner import Stack, StackError, StackPorts, StackSettings
from obs_mcp.stack.specs import ProcessSpec, traces_mode

pytestmark = pytest.mark.stack


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Stack]:
    install_all(lambda _line: None)
    stack = Stack(
        StackSettings(state_dir=tmp_path / "state", ports=StackPorts.free(), die_with_parent=True)
    )
    yield stack
    stack.down(wipe=True, grace_seconds=3)


def _real_vl() -> Path:
    resolved = resolve_binary(VICTORIALOGS)
    assert resolved is not None
    return resolved.path


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("how", ["exec", "fork"])
def test_down_stops_a_store_started_through_a_wrapper(
    fresh: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A wrapper that execs (pid keeps, command line changes) or forks (the binary is a
    child) used to survive `down`; the next `up` then crashed on its data-dir lock."""
    real = _real_vl()
    line = f'exec "{real}" "$@"' if how == "exec" else f'"{real}" "$@"'
    monkeypatch.setenv("OBS_MCP_VICTORIALOGS_BIN", str(_script(tmp_path / "vl-wrapper", line)))
    fresh.up(install=False)
    record = fresh.state.processes()["victorialogs"]
    members = procs.session_members(record.pid)
    assert members, "the wrapped VictoriaLogs is not running"
    messages = fresh.down(grace_seconds=5)
    assert "victorialogs: stopped" in "\n".join(messages), messages
    assert procs.session_members(record.pid) == [], f"{how} wrapper: left {members} running"
    assert lock_holder(fresh.data_dir / "victorialogs") is None
    assert procs.port_is_free("127.0.0.1", fresh.settings.ports.victorialogs)
    fresh.up(install=False)  # the same data dir opens again without a lock panic
    assert all(c.healthy for c in fresh.status())


def test_down_leaves_alone_a_process_that_got_a_recorded_pid(fresh: Stack) -> None:
    """A pid in stack.json that now names another program (same pid, other start time)."""
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        ticks = procs.start_ticks(stranger.pid)
        assert ticks is not None
        record = {"pid": stranger.pid, "start_ticks": ticks - 1, "argv0": "sleep", "port": 1,
                  "log": "x"}  # fmt: skip
        fresh.state_dir.mkdir(parents=True)
        fresh.state_file.write_text(json.dumps({"processes": {"victorialogs": record}}))
        (message,) = fresh.down(grace_seconds=1)
        assert message.startswith("victorialogs: not stopped:"), message
        assert f"pid {stranger.pid}" in message and "another program" in message
        assert stranger.poll() is None, "down killed a process that was not ours"
        assert "victorialogs" in fresh.state.processes(), "an unstopped record must be kept"
    finally:
        stranger.kill()
        stranger.wait()


def test_down_stops_a_process_recorded_by_an_older_obs_mcp(fresh: Stack) -> None:
    """stack.json written before start times were recorded (pid + argv0 only)."""
    old = subprocess.Popen(["sleep", "60"], start_new_session=True)
    record = {"pid": old.pid, "argv0": "sleep", "port": 1, "started_at": 0, "log": "x"}
    fresh.state_dir.mkdir(parents=True)
    fresh.state_file.write_text(json.dumps({"processes": {"victorialogs": record}}))
    assert fresh.down(grace_seconds=5) == ["victorialogs: stopped"]
    old.wait(5)  # down may have reaped it already (then the exit status is gone)
    assert not procs.pid_alive(old.pid)


def test_down_with_an_unreadable_record_says_so_and_exits_1(tmp_path: Path) -> None:
    """A corrupt stack.json is not "nothing runs": `down` names the file, keeps it, and fails."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text('{"processes": {"victorialogs": ')
    done = subprocess.run(
        [sys.executable, "-m", "obs_mcp.cli", "stack", "--state-dir", str(state), "down"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "stack.json: not stopped: cannot read" in out and str(state / "stack.json") in out
    assert (state / "stack.json").read_text() == '{"processes": {"victorialogs": '


def test_up_names_the_holder_of_a_taken_data_dir_and_starts_nothing(fresh: Stack) -> None:
    data = fresh.data_dir / "victorialogs"
    data.mkdir(parents=True)
    holder = subprocess.Popen(
        [str(_real_vl()), f"-httpListenAddr=127.0.0.1:{procs.free_port()}",
         f"-storageDataPath={data}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(lambda: lock_holder(data) is not None)
        with pytest.raises(StackError) as failure:
            fresh.up(install=False)
        message = str(failure.value)
        assert f"its data dir {data} is locked by pid {holder.pid}" in message, message
        assert "started nothing" in message
        assert "panic" not in message
        assert fresh.state.processes() == {}
        assert procs.port_is_free("127.0.0.1", fresh.settings.ports.victoriametrics)
    finally:
        holder.terminate()
        holder.wait(10)


def test_a_lock_panic_in_the_log_becomes_the_same_sentence(tmp_path: Path) -> None:
    """When the lock is taken between the check and the start, the store's panic is read."""
    data = tmp_path / "vl"
    argv = [str(_real_vl()), "-httpListenAddr=127.0.0.1:0", f"-storageDataPath={data}"]
    holder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: lock_holder(data) is not None)
        second = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert second.returncode != 0 and "panic" in second.stderr + second.stdout
        spec = ProcessSpec("victorialogs", "VictoriaLogs", argv[:1], [], (1,), "", "", 0, data)
        sentence = explain_exit(spec, "127.0.0.1", second.stdout + second.stderr)
        assert sentence is not None
        assert f"its data dir {data} is locked by pid {holder.pid}" in sentence
    finally:
        holder.terminate()
        holder.wait(10)


def test_failed_up_stops_what_it_started(
    fresh: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _script(tmp_path / "victoria-logs", "echo 'FATAL: disk on fire' >&2; exit 1")
    monkeypatch.setenv("OBS_MCP_VICTORIALOGS_BIN", str(broken))
    with pytest.raises(StackError) as failure:
        fresh.up(install=False)
    message = str(failure.value)
    assert "disk on fire" in message
    assert "stopped what it had started: " in message and "VictoriaMetrics (stopped)" in message
    assert fresh.state.processes() == {}
    assert procs.port_is_free("127.0.0.1", fresh.settings.ports.victoriametrics)


def test_failed_up_leaves_running_what_ran_before(
    fresh: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh.up(install=False)
    before = fresh.state.processes()
    os.kill(before["collector"].pid, signal.SIGKILL)
    _wait(lambda: not before["collector"].running())
    monkeypatch.setenv("OBS_MCP_COLLECTOR_BIN", str(_script(tmp_path / "otelcol", "exit 3")))
    with pytest.raises(StackError) as failure:
        fresh.up(install=False)
    message = str(failure.value)
    assert "OpenTelemetry Collector exited" in message
    assert "Left running, as they were before it: VictoriaMetrics, VictoriaLogs" in message
    monkeypatch.delenv("OBS_MCP_COLLECTOR_BIN")
    still = {c.name: c for c in fresh.status()}
    assert not still["collector"].running
    assert all(c.healthy for name, c in still.items() if name != "collector")
    assert {n: r.pid for n, r in fresh.state.processes().items()} == {
        n: r.pid for n, r in before.items() if n != "collector"
    }


def test_taken_port_starts_nothing(fresh: Stack) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", fresh.settings.ports.otlp_http))
        squatter.listen()
        with pytest.raises(StackError) as failure:
            fresh.up(install=False)
    message = str(failure.value)
    assert f"port 127.0.0.1:{fresh.settings.ports.otlp_http} is already in use by pid" in message
    assert "started nothing" in message
    assert fresh.state.processes() == {}


def test_vt_compat_span_store_and_a_real_victoriatraces_use_different_dirs(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBS_MCP_VICTORIATRACES_BIN", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no victoria-traces on PATH
    if traces_mode() != "vt-compat":
        pytest.skip("a VictoriaTraces binary is in the cache here, so vt-compat is never used")
    compat = {s.name: s.data_dir for s in fresh.specs()}
    # Which binary plays VictoriaTraces does not matter for its data dir: a store binary.
    monkeypatch.setenv("OBS_MCP_VICTORIATRACES_BIN", str(_real_vl()))
    real = {s.name: s.data_dir for s in fresh.specs()}
    assert compat["vt-backend"] == fresh.data_dir / "vt-compat-spans"
    assert real["victoriatraces"] == fresh.data_dir / "victoriatraces"
    assert "vt-backend" not in real


def _wait(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
