"""The start-up floor: a bare MCPServer with one tool, on the same Python as obs-mcp.

`python benchmarks/bare_server.py` serves stdio; benchmarks/coldstart.py times it from spawn to
its first tools/list answer next to `python -m obs_mcp`.
"""

from mcp.server import MCPServer

mcp: MCPServer[object] = MCPServer(name="bare")


@mcp.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    mcp.run()
