"""Each client's entry for the server, and how an existing entry is updated in place."""

from __future__ import annotations

import copy
from typing import Any

from obs_mcp.agents.spec import Action, ServerSpec

OPENCODE_SCHEMA = "https://opencode.ai/config.json"


def claude_entry(spec: ServerSpec) -> dict[str, Any]:
    return {
        "type": "stdio",
        "command": spec.command,
        "args": list(spec.args),
        "env": dict(spec.env),
    }


def codex_entry(spec: ServerSpec) -> dict[str, Any]:
    return {"command": spec.command, "args": list(spec.args), "env": dict(spec.env)}


def opencode_entry(spec: ServerSpec) -> dict[str, Any]:
    return {
        "type": "local",
        "command": [spec.command, *spec.args],
        "environment": dict(spec.env),  # OpenCode ignores a key named `env`
        "enabled": True,
    }


def merge(existing: Any, ours: dict[str, Any]) -> dict[str, Any]:
    """Update in place: our keys win, the user's extra keys (timeouts, extra env) stay."""
    merged: dict[str, Any] = copy.deepcopy(existing) if isinstance(existing, dict) else {}
    for key, value in ours.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def action_for(created: bool, existing: object, entry: object) -> Action:
    if created:
        return "created"
    if existing is None:
        return "added"
    return "unchanged" if existing == entry else "updated"
