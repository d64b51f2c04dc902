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
from tests.known_telemetry import Shop, Small, emit_shop, emit_small, wait_for_shop, wait_for_small
from tests.picture_telemetry import Trend, emit_trend


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


@pytest.fixture
def tools_on_stack(native_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server reads the store URLs at lifespan start: point it at the test stack."""
    for key, value in native_stack.settings.store_env().items():
        monkeypatch.setenv(key, value)


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


@pytest.fixture(scope="module")
def trend(native_stack: Stack) -> Trend:
    """A before/after pair with known per-bucket figures (tests/picture_telemetry.py)."""
    s = native_stack.settings
    return emit_trend(s.otlp_http_url, s.vt_url, s.vl_url)
