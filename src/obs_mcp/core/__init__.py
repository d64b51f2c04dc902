"""The query core: one function per tool, shared by the MCP server and the CLI."""
