"""The `obs-mcp` command: the native stack, the MCP server, and the query tools for humans."""

from __future__ import annotations

import argparse
import sys

from obs_mcp.cli import stack_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="obs-mcp",
        description="Local observability stack + MCP server for coding agents.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    stack_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "stack":
        return stack_cmd.run(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
