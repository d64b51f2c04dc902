"""`python -m obs_mcp`: the MCP server on stdio."""

from obs_mcp.server import main

main()
