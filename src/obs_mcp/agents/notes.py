"""Hints about each client's own gates: an entry can be in the file and still not load."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path

from obs_mcp.agents.jsonedit import load_jsonc
from obs_mcp.agents.locations import codex_home, config_path


def claude_approval_notes(name: str, cwd: Path, env: Mapping[str, str]) -> list[str]:
    state = config_path("claude-code", "user", cwd, env)
    try:
        project = json.loads(state.read_text()).get("projects", {}).get(str(cwd), {})
    except (OSError, ValueError, AttributeError):
        project = {}
    if isinstance(project, dict) and name in (project.get("enabledMcpjsonServers") or []):
        return []
    return [
        f"Claude Code asks once to approve servers from .mcp.json: start `claude` here and "
        f"approve {name!r} (`claude mcp list` shows 'Pending approval' until then)."
    ]


def codex_trust_notes(cwd: Path, env: Mapping[str, str]) -> list[str]:
    """Codex reads a project's .codex/config.toml only for a trusted project (checked on 0.169)."""
    user = codex_home(env) / "config.toml"
    try:
        projects = tomllib.loads(user.read_text()).get("projects", {})
    except (OSError, tomllib.TOMLDecodeError):
        projects = {}
    for folder in (cwd, *cwd.parents):
        entry = projects.get(str(folder)) if isinstance(projects, dict) else None
        if isinstance(entry, dict) and entry.get("trust_level") == "trusted":
            return []
    return [
        f"Codex loads .codex/config.toml only in trusted projects; {cwd} is not trusted in "
        f"{user}. Start `codex` here and trust the folder, or use --scope user."
    ]


def opencode_shadow_notes(path: Path, name: str) -> list[str]:
    """OpenCode merges opencode.json and opencode.jsonc, the .jsonc winning (checked on 1.18)."""
    other = path.with_suffix(".jsonc") if path.suffix == ".json" else None
    if other is None or not other.exists():
        return []
    try:
        doc = load_jsonc(other.read_text())
    except (OSError, ValueError):
        return [f"{other} exists and could not be read; OpenCode lets it override {path.name}."]
    if isinstance(doc, dict) and isinstance(doc.get("mcp"), dict) and name in doc["mcp"]:
        return [f"{other} also defines mcp.{name} and OpenCode lets it win: remove it there."]
    return []
