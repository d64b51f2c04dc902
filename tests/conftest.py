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
