"""`obs-mcp run`: any command under the stack, with no change to its code."""
