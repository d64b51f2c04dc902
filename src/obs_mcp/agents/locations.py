"""Which file each client reads for a scope, with the env overrides the real CLI honours."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from obs_mcp.agents.spec import CLIENTS, AgentConfigError, Scope


def home(env: Mapping[str, str]) -> Path:
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def config_path(client: str, scope: Scope, cwd: Path, env: Mapping[str, str]) -> Path:
    """The file the real CLI reads for this scope (same env overrides the CLI honours)."""
    if client == "claude-code":
        if scope == "project":
            return cwd / ".mcp.json"
        # `claude mcp add --scope user` writes $CLAUDE_CONFIG_DIR/.claude.json or ~/.claude.json.
        base = Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else home(env)
        return base / ".claude.json"
    if client == "codex":
        if scope == "project":
            return cwd / ".codex" / "config.toml"
        return codex_home(env) / "config.toml"
    if client == "opencode":
        if scope == "project":
            return _opencode_file(cwd)
        xdg = env.get("XDG_CONFIG_HOME") or str(home(env) / ".config")
        return _opencode_file(Path(xdg) / "opencode")
    raise AgentConfigError(f"unknown client {client!r}: choose one of {', '.join(CLIENTS)}")


def codex_home(env: Mapping[str, str]) -> Path:
    return Path(env["CODEX_HOME"]) if env.get("CODEX_HOME") else home(env) / ".codex"


def _opencode_file(directory: Path) -> Path:
    """opencode.json, unless only an opencode.jsonc exists that is plain JSON (opencode creates
    one like that): OpenCode loads both and the .jsonc wins, so editing it keeps one truth."""
    plain, jsonc = directory / "opencode.json", directory / "opencode.jsonc"
    if not plain.exists() and jsonc.exists():
        try:
            json.loads(jsonc.read_text() or "{}")
        except ValueError:
            return plain
        return jsonc
    return plain
