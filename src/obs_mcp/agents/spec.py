"""What `install` works with: the server as every client must start it, and what it reports."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from obs_mcp.stack.runner import StackSettings

CLIENTS = ("claude-code", "codex", "opencode")
TELEMETRY_CLIENTS = ("claude-code", "codex")
SCOPES = ("project", "user")
Scope = Literal["project", "user"]
Action = Literal["created", "added", "updated", "unchanged"]


class AgentConfigError(RuntimeError):
    """A config file could not be edited safely; the message says what to do instead."""


@dataclass(frozen=True)
class ServerSpec:
    """The stdio server as every client must start it."""

    name: str
    command: str
    args: tuple[str, ...]
    env: Mapping[str, str]


def server_spec(name: str = "obs", settings: StackSettings | None = None) -> ServerSpec:
    """This interpreter (absolute, so the venv with obs_mcp is used) + the stack's store URLs."""
    s = settings or StackSettings()
    env = {
        "VL_URL": s.vl_url,
        "VM_URL": s.vm_url,
        "VT_URL": s.vt_url,
        "OBS_MCP_COLLECTOR_METRICS_URL": s.collector_metrics_url,
        **s.flush_env(),  # the key file's path: no secret is written into a client's config
    }
    return ServerSpec(name, str(Path(sys.executable).absolute()), ("-m", "obs_mcp"), env)


@dataclass
class InstallResult:
    client: str
    scope: str
    path: Path
    action: Action
    snippet: str  # the entry in the file's own format
    written: bool = False
    notes: list[str] = field(default_factory=list)
