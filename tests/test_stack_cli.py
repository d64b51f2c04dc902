"""`obs-mcp stack` as a user runs it: up/status/down, failures named with log tails, no leftovers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from obs_mcp.stack.install import install_all
from obs_mcp.stack.procs import pid_alive
from obs_mcp.stack.runner import Stack, StackPorts
from obs_mcp.stack.specs import traces_mode

pytestmark = pytest.mark.stack
OBS_MCP = [sys.executable, "-m", "obs_mcp.cli"]


@pytest.fixture
def isolated(tmp_path: Path) -> Iterator[tuple[dict[str, str], StackPorts, Path]]:
    """Env for a CLI stack on free ports in a temp state dir; always torn down."""
    ports = StackPorts.free()
    env = dict(os.environ, OBS_MCP_STATE_DIR=str(tmp_path / "state"))
    for name, port in asdict(ports).items():
        env[f"OBS_MCP_PORT_{name.upper()}"] = str(port)
    yield env, ports, tmp_path / "state"
    subprocess.run(
        [*OBS_MCP, "stack", "down", "--wipe", "--grace", "3"], env=env, capture_output=True
    )


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OBS_MCP, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) of sockets listening on a port."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(port_hex, 16) == port:
                found.add(addr)
    return found


def test_second_install_builds_nothing() -> None:
    install_all(lambda _line: None)
    started = time.monotonic()
    results = install_all(lambda _line: None)
    assert all(not r.built for r in results)
    assert time.monotonic() - started < 30


def test_up_status_down_leaves_nothing_behind(
    isolated: tuple[dict[str, str], StackPorts, Path],
) -> None:
    env, ports, state_dir = isolated
    started = time.monotonic()
    up = _cli(env, "stack", "up")
    took = time.monotonic() - started
    assert up.returncode == 0, up.stderr
    assert took < 20, f"stack up took {took:.1f}s"
    status = _cli(env, "stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    parts = 5 if traces_mode() == "vt-compat" else 4  # vt-compat: span store + adapter
    assert status.stdout.count("healthy") >= parts
    for port in (ports.victoriametrics, ports.victorialogs, ports.victoriatraces, ports.otlp_http):
        assert f"127.0.0.1:{port}" in status.stdout
        assert _listening_addresses(port) == {"0100007F"}, f"port {port} not loopback-only"
    pids = [
        int(e["pid"])
        for e in __import__("json")
        .loads((state_dir / "stack.json").read_text())["processes"]
        .values()
    ]
    assert len(pids) == parts
    logs = _cli(env, "stack", "logs", "victoriametrics", "-n", "5")
    assert logs.returncode == 0 and "victoriametrics.log" in logs.stdout
    exports = _cli(env, "stack", "env")
    assert f"export VM_URL=http://127.0.0.1:{ports.victoriametrics}" in exports.stdout
    key_file = state_dir / "force-flush.key"
    assert f"export OBS_MCP_FORCE_FLUSH_KEY_FILE={key_file.absolute()}" in exports.stdout
    assert key_file.read_text().strip() not in exports.stdout, "a path is printed, not the key"
    down = _cli(env, "stack", "down")
    assert down.returncode == 0
    assert not any(pid_alive(pid) for pid in pids), "a stack process survived `down`"
    stopped = _cli(env, "stack", "status")
    assert stopped.returncode == 1  # a problem found: the same code as every command
    assert "stopped" in stopped.stdout
    assert (state_dir / "data" / "victoriametrics").is_dir(), "down must keep data"


def test_failing_store_is_named_with_its_log_tail(
    isolated: tuple[dict[str, str], StackPorts, Path], tmp_path: Path
) -> None:
    env, _ports, _state = isolated
    broken = tmp_path / "victoria-logs"
    broken.write_text("#!/bin/sh\necho 'FATAL: cannot open storage: disk on fire' >&2\nexit 1\n")
    broken.chmod(0o755)
    env["OBS_MCP_VICTORIALOGS_BIN"] = str(broken)
    started = time.monotonic()
    up = _cli(env, "stack", "up", timeout=60)
    assert up.returncode == 1
    assert time.monotonic() - started < 40, "a failed start must not hang"
    assert "VictoriaLogs" in up.stderr
    assert "exited" in up.stderr
    assert "disk on fire" in up.stderr


def test_port_in_use_names_port_and_holder(
    isolated: tuple[dict[str, str], StackPorts, Path],
) -> None:
    env, ports, _state = isolated
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", ports.victoriametrics))
        squatter.listen()
        up = _cli(env, "stack", "up", timeout=60)
    assert up.returncode == 1
    assert f"127.0.0.1:{ports.victoriametrics}" in up.stderr
    assert f"pid {os.getpid()}" in up.stderr


def test_crashed_component_is_reported_and_restarted_by_up(
    isolated: tuple[dict[str, str], StackPorts, Path],
) -> None:
    env, _ports, state_dir = isolated
    assert _cli(env, "stack", "up").returncode == 0
    stack = Stack.from_state_dir(state_dir)
    victim = next(s for s in stack.status() if s.name == "victorialogs")
    assert victim.pid is not None
    os.kill(victim.pid, 9)
    time.sleep(0.5)
    status = _cli(env, "stack", "status")
    assert status.returncode == 1
    assert _cli(env, "stack", "up").returncode == 0
    assert all(s.healthy for s in Stack.from_state_dir(state_dir).status())


def test_missing_go_says_what_to_do_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    from obs_mcp.stack.install import InstallError, go_executable

    monkeypatch.delenv("GO", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InstallError) as failure:
        go_executable()
    message = str(failure.value)
    assert "Go is not installed" in message
    assert "docker compose -f compose/docker-compose.yml up -d" in message
    assert "OBS_MCP_VICTORIAMETRICS_BIN" in message
