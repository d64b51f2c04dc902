"""`install`: which file, which format and which gate hints for each client."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from obs_mcp.agents.entries import OPENCODE_SCHEMA, claude_entry, codex_entry, opencode_entry
from obs_mcp.agents.jsonedit import install_json_entry
from obs_mcp.agents.locations import config_path
from obs_mcp.agents.notes import claude_approval_notes, codex_trust_notes, opencode_shadow_notes
from obs_mcp.agents.spec import InstallResult, Scope, ServerSpec
from obs_mcp.agents.tomledit import install_toml_entry


def install(
    client: str,
    scope: Scope,
    spec: ServerSpec,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> InstallResult:
    """Add or update `spec` in the client's config for `scope`; `dry_run` computes, never writes."""
    cwd = (cwd or Path.cwd()).absolute()
    env = os.environ if env is None else env
    path = config_path(client, scope, cwd, env)
    if client == "codex":
        result = install_toml_entry(path, "mcp_servers", spec.name, codex_entry(spec), dry_run)
        if scope == "project":
            result.notes.extend(codex_trust_notes(cwd, env))
    elif client == "claude-code":
        result = install_json_entry(path, "mcpServers", spec.name, claude_entry(spec), {}, dry_run)
        if scope == "project":
            result.notes.extend(claude_approval_notes(spec.name, cwd, env))
    else:
        fresh = {"$schema": OPENCODE_SCHEMA}
        result = install_json_entry(path, "mcp", spec.name, opencode_entry(spec), fresh, dry_run)
        result.notes.extend(opencode_shadow_notes(path, spec.name))
    result.client, result.scope = client, scope
    return result
