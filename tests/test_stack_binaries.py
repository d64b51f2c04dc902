"""The stack runs the binaries a user has: it shows the version each reports, passes only the
flags each knows (saying which it dropped), and asks each binary once per build."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from obs_mcp.stack.binfacts import binary_facts, parse_version
from obs_mcp.stack.components import VICTORIALOGS, VICTORIAMETRICS, Component, resolve_binary
from obs_mcp.stack.install import install_all
from obs_mcp.stack.runner import Stack, StackError, StackPorts, StackSettings

OBS_MCP = [sys.executable, "-m", "obs_mcp.cli"]


def _binary(component: Component) -> Path:
    install_all(lambda _line: None)
    resolved = resolve_binary(component)
    assert resolved is not None
    return resolved.path


def test_a_binary_is_asked_once_per_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBS_MCP_CACHE_DIR", str(tmp_path / "cache"))
    calls = tmp_path / "calls"
    binary = tmp_path / "store"
    binary.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> {calls}\n'
        'case "$1" in --help) printf "  -httpListenAddr array\\n    \\tdoc\\n" >&2;;\n'
        "  --version) echo store-v9.8.7;; esac\n"
    )
    binary.chmod(0o755)
    first, second = binary_facts(binary), binary_facts(binary)
    assert first == second
    assert first.version == "v9.8.7" and first.flags == frozenset({"httpListenAddr"})
    assert calls.read_text().split() == ["--help", "--version"]
    os.utime(binary, ns=(1, 1))  # replaced by another build: asked again
    binary_facts(binary)
    assert len(calls.read_text().split()) == 4


def test_versions_parse_releases_and_keep_pseudo_versions() -> None:
    assert parse_version("victoria-logs-v1.52.2") == "v1.52.2"
    assert parse_version("otelcol-obs-mcp version 0.158.0") == "0.158.0"
    assert parse_version("victoria-logs-20260101-tags-v1.52.2-0-gabc1234") == "v1.52.2"
    pseudo = "victoria-logs-v1.51.1-0.20260624101010-0123456789ab"
    assert parse_version(pseudo) == "v1.51.1-0.20260624101010-0123456789ab"
    assert parse_version("") is None


@pytest.mark.stack
def test_status_shows_reported_versions_and_dropped_freshness_flags(tmp_path: Path) -> None:
    """A store binary that lacks VictoriaTraces' freshness flags plays VictoriaTraces: the
    flags are dropped (not an "flag provided but not defined" exit) and both commands say so."""
    vl, vm = _binary(VICTORIALOGS), _binary(VICTORIAMETRICS)
    env = dict(os.environ, OBS_MCP_STATE_DIR=str(tmp_path / "state"))
    env["OBS_MCP_VICTORIATRACES_BIN"] = str(vl)
    for name, port in asdict(StackPorts.free()).items():
        env[f"OBS_MCP_PORT_{name.upper()}"] = str(port)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*OBS_MCP, *args], env=env, capture_output=True, text=True, timeout=120
        )

    try:
        up = cli("stack", "up")
        assert up.returncode == 0, up.stderr
        for flag in ("-search.latencyOffset=1s", "-insert.indexFlushInterval=1s"):
            assert f"VictoriaTraces: dropped {flag} (this binary does not know it)" in up.stderr
        status = cli("stack", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        rows = {
            line.split("│")[1].strip(): line for line in status.stdout.splitlines() if "│" in line
        }
        reported_vm = subprocess.run([str(vm), "--version"], capture_output=True, text=True)
        assert f" {parse_version(reported_vm.stdout)} " in rows["VictoriaMetrics"]
        assert " v1.52.2 " in rows["VictoriaTraces"], "the version the binary reports"
        assert "VictoriaTraces: dropped -search.latencyOffset=1s" in status.stdout
        assert "spans can show up to 30 s late" in status.stdout
    finally:
        cli("stack", "down", "--wipe", "--grace", "3")


def test_a_missing_required_flag_stops_up_with_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBS_MCP_VICTORIAMETRICS_BIN", str(_binary(VICTORIALOGS)))
    stack = Stack(StackSettings(state_dir=tmp_path, ports=StackPorts.free()))
    with pytest.raises(StackError) as failure:
        stack.up(install=False)
    message = str(failure.value)
    assert "does not know -opentelemetry.usePrometheusNaming=true" in message
    assert "OBS_MCP_*_BIN" in message
    assert stack.state.processes() == {}
