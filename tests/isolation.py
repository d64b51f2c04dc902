"""No test may pass because of what happens to listen on the default ports or what the shell
that runs pytest exports: before any test, the obs-mcp settings of the environment are replaced.

Store URLs point at a dead port, so a server or CLI that a test forgot to point at its own
stack fails with "VictoriaLogs (http://127.0.0.1:9): unreachable ..." instead of quietly
talking to a user's stack on 127.0.0.1:9428; the state dir is an empty temp dir, so no
stack.json of a running stack is found; the user's port, token, header, force-flush key and
OTLP settings go.
Tests that need a stack take the `native_stack` fixture and pass its settings explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing answers, connections are refused
DEAD_URL_VARS = ("VL_URL", "VM_URL", "VT_URL", "OBS_MCP_COLLECTOR_METRICS_URL")
DROPPED_PREFIXES = (
    "VL_",
    "VM_",
    "VT_",
    "OBS_MCP_PORT_",
    "OBS_MCP_FORCE_FLUSH_",
    "OTEL_EXPORTER_OTLP_",
)
DROPPED = ("OBS_MCP_HTTP_TOKEN", "OBS_MCP_TIMEOUT", "OBS_MCP_STATE_DIR", "OBS_MCP_SOURCES")


def isolate_environment(state_dir: Path) -> dict[str, str]:
    """Rewrite os.environ as above; returns what was removed or replaced (for a report)."""
    changed = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(DROPPED_PREFIXES) or key in DROPPED
    }
    for key in changed:
        del os.environ[key]
    os.environ.update(dict.fromkeys(DEAD_URL_VARS, DEAD_URL))
    os.environ["OBS_MCP_STATE_DIR"] = str(state_dir)
    return changed
