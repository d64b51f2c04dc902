"""Running the pinned client CLIs (tests/clients) in temp homes: shared by the tests that drive
them (config read-back, their own telemetry in the stack, their sessions)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio

from obs_mcp.config import Settings
from obs_mcp.core.backends import Backends, open_backends
from obs_mcp.stack.runner import StackSettings

T = TypeVar("T")

OBS_MCP = [sys.executable, "-m", "obs_mcp.cli"]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def agent_env_vars(bin_dir: Path, home: Path, xdg: Path) -> dict[str, str]:
    """No real home, no updater, no colour; PATH has the pinned CLIs and node."""
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(xdg),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "CI": "1",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        # no network beyond the registries: OpenCode would fetch its model list at start-up,
        # and neither its default plugins nor an LSP server may be downloaded
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    }


def run_cli(
    cwd: Path, env: dict[str, str], *argv: str, timeout: float = 180, stdout_only: bool = False
) -> str:
    """Run a client CLI; its output without colour codes (stdout and stderr unless asked)."""
    res = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    out = ANSI.sub("", res.stdout + res.stderr)
    assert res.returncode == 0, f"{argv} exited {res.returncode}:\n{out}"
    return ANSI.sub("", res.stdout) if stdout_only else out


def install_obs(cwd: Path, env: dict[str, str], *args: str) -> None:
    res = subprocess.run(
        [*OBS_MCP, "install", *args],
        cwd=cwd,
        # no stack unless the caller names one (the telemetry test points at the test stack)
        env={"OBS_MCP_STATE_DIR": str(cwd.parent / "no-stack"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr


def on_stack(settings: StackSettings, call: Callable[[Backends], Awaitable[T]]) -> T:
    """One core call against the test stack's stores, as the MCP tool and CLI make it."""

    async def go() -> T:
        async with open_backends(Settings.from_env(settings.store_env())) as backends:
            return await call(backends)

    return anyio.run(go)


# What makes one `claude -p` run deterministic (Claude Code 2.1.332, read in its bundle and docs):
CLAUDE_RUN_ENV = {
    # `-p` starts the first turn without waiting for MCP servers (since 2.1.142): a server that
    # starts slower than Claude Code's first request (Python without .pyc on a fresh clone takes
    # ~3.5 s, Claude Code ~2.5 s) is not in that turn's tools, so the fake model never calls it.
    # 0 restores the wait, bounded by MCP_CONNECT_TIMEOUT_MS (default 5 s, raised here).
    "MCP_CONNECTION_NONBLOCKING": "0",
    "MCP_CONNECT_TIMEOUT_MS": "60000",
    # with a base URL set, MCP tools would sit behind ToolSearch: offer them directly
    "ENABLE_TOOL_SEARCH": "false",
    # a short run exports its metrics and events only at exit; the exit flush is cut off after
    # this (default 2 s), which a loaded 2-core machine can exceed
    "CLAUDE_CODE_OTEL_SHUTDOWN_TIMEOUT_MS": "30000",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_LOGS_EXPORT_INTERVAL": "500",
}
