"""Shared fixtures: one isolated native stack per test session (free ports, temp state dir)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from obs_mcp.stack.install import install_all
from obs_mcp.stack.runner import Stack, StackPorts, StackSettings
from obs_mcp.stack.specs import traces_mode
from tests.known_telemetry import Shop, Small, emit_shop, emit_small, wait_for_shop, wait_for_small


def _report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def native_stack() -> Iterator[Stack]:
    """A real stack on free loopback ports with its own data: never touches a user's stack."""
    install_all(_report)
    state_dir = Path(tempfile.mkdtemp(prefix="obs-mcp-test-stack-"))
    stack = Stack(StackSettings(state_dir=state_dir, ports=StackPorts.free(), die_with_parent=True))
    try:
        stack.up(report=_report, install=False)
        yield stack
    finally:
        stack.down(wipe=True, grace_seconds=5)
        shutil.rmtree(state_dir, ignore_errors=True)


# Known telemetry, emitted once per test module that asks for it (unique service names, so
# modules never see each other's figures).
@pytest.fixture(scope="module")
def shop(native_stack: Stack) -> Iterator[Shop]:
    s = native_stack.settings
    known, front, back = emit_shop(s.otlp_http_url)
    try:
        wait_for_shop(known, s.vl_url, s.vt_url, s.vm_url)
        yield known
    finally:
        front.shutdown()
        back.shutdown()


@pytest.fixture(scope="module")
def small(native_stack: Stack) -> Small:
    """10 server spans, 3 of them errors, for transport-level checks of real figures."""
    s = native_stack.settings
    known = emit_small(s.otlp_http_url, total=10, errors=3, prefix="small")
    wait_for_small(known, s.vt_url, s.vl_url)
    return known


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip, with the reason, tests that only make sense with the other kind of VictoriaTraces."""
    mode = traces_mode()
    if mode == "victoriatraces" and item.get_closest_marker("vtcompat"):
        pytest.skip("checks vt-compat, but a real VictoriaTraces binary is in use")
    if mode == "vt-compat" and item.get_closest_marker("realvt"):
        pytest.skip("needs a real VictoriaTraces binary (set OBS_MCP_VICTORIATRACES_BIN)")
