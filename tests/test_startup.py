"""Start-up stays near a bare MCPServer's: what only a tool call needs is loaded by the call.

Timing is measured by the benchmark (benchmarks/coldstart.py), not asserted; this checks the
cause instead: which modules `import obs_mcp.server` and the lifespan pull in."""

from __future__ import annotations

import json
import subprocess
import sys

LATER = (
    "httpcore2",  # the HTTP transport: made with the store clients, on the first call
    "opentelemetry.sdk",
    "obs_mcp.core.compare",
    "obs_mcp.core.correlate",
    "obs_mcp.core.red",
    "obs_mcp.core.signatures",
    "obs_mcp.stack",
    "obs_mcp.cli",
)
PROBE = """
import json, sys, anyio
from obs_mcp.server import lifespan, mcp
async def main():
    async with lifespan(mcp):  # what runs before the first tools/list answer
        await mcp.list_tools()
anyio.run(main)
print(json.dumps(sorted(sys.modules)))
"""


def test_tools_list_needs_no_query_module_no_http_transport_and_no_sdk() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    early = sorted(m for m in loaded if any(m == x or m.startswith(x + ".") for x in LATER))
    assert not early, f"loaded before any tool call: {early}"
