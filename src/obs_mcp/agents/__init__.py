"""Register obs-mcp in coding agents' own config files, and the settings for their own telemetry.

Each client keeps MCP servers in its own format (Claude Code: JSON `mcpServers`; Codex: TOML
`[mcp_servers.NAME]`; OpenCode: JSON `mcp` with `environment`). Edits are targeted: only the one
entry changes, everything else in the file (other servers, keys, TOML comments) stays, and a
second run writes nothing. Formats were checked against the real CLIs (tests/clients pins them).

One module per reason to change: `locations` (where each client looks), `entries` (each
client's entry and the merge), `jsonedit` / `tomledit` (the file formats), `notes` (each
client's gates), `install` (the dispatch), `telemetry` (`agent-env`).
"""

from obs_mcp.agents.install import install
from obs_mcp.agents.spec import (
    CLIENTS,
    SCOPES,
    TELEMETRY_CLIENTS,
    AgentConfigError,
    InstallResult,
    Scope,
    ServerSpec,
    server_spec,
)
from obs_mcp.agents.telemetry import (
    claude_code_telemetry_env,
    claude_code_telemetry_text,
    codex_telemetry_toml,
)

__all__ = [
    "CLIENTS",
    "SCOPES",
    "TELEMETRY_CLIENTS",
    "AgentConfigError",
    "InstallResult",
    "Scope",
    "ServerSpec",
    "claude_code_telemetry_env",
    "claude_code_telemetry_text",
    "codex_telemetry_toml",
    "install",
    "server_spec",
]
