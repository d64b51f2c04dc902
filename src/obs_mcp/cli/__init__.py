"""The `obs-mcp` command: the native stack, the MCP server, and the query tools for humans."""

from __future__ import annotations

import argparse
import sys

from obs_mcp.cli import (
    analysis_cmd,
    discover_cmd,
    install_cmd,
    query_cmd,
    report_cmd,
    run_cmd,
    sessions_cmd,
    stack_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="obs-mcp",
        description="Local observability stack + MCP server for coding agents.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    stack_cmd.add_parser(sub)
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    query_cmd.add_parsers(sub)
    analysis_cmd.add_parsers(sub)
    discover_cmd.add_parsers(sub)
    install_cmd.add_parsers(sub)
    report_cmd.add_parsers(sub)
    sessions_cmd.add_parsers(sub)
    run_cmd.add_parsers(sub)
    demo = sub.add_parser("demo", help="the demo shop: run the whole loop, or start/stop it")
    demo.add_argument("action", choices=["run", "up", "down", "status"], nargs="?", default="run")
    demo.add_argument("--requests", type=int, default=400)
    demo.add_argument("--concurrency", type=int, default=4)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--fix-bug",
        action="store_true",
        help="up: start a scratch copy with both fixes (demo_service/patches) applied",
    )
    demo.add_argument("--shop-port", type=int, default=8000)
    demo.add_argument("--payments-port", type=int, default=8001)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "stack":
        return stack_cmd.run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command in query_cmd.COMMANDS:
        return query_cmd.run(args)
    if args.command in analysis_cmd.COMMANDS:
        return analysis_cmd.run(args)
    if args.command in discover_cmd.COMMANDS:
        return discover_cmd.run(args)
    if args.command in install_cmd.COMMANDS:
        return install_cmd.run(args)
    if args.command in report_cmd.COMMANDS:
        return report_cmd.run(args)
    if args.command in sessions_cmd.COMMANDS:
        return sessions_cmd.run(args)
    if args.command in run_cmd.COMMANDS:
        return run_cmd.run(args)
    if args.command == "demo":
        return _demo(args)
    parser.error(f"unknown command {args.command}")
    return 2


DEMO_MISSING = (
    "error: `obs-mcp demo` needs the demo shop and its load generator ({missing}), which come "
    "with obs-mcp's source, not with the installed package: run `make demo` in a checkout "
    "of the obs-mcp repository."
)


def _demo(args: argparse.Namespace) -> int:
    try:
        from obs_mcp.cli import demo_cmd
    except ModuleNotFoundError as exc:
        if exc.name not in ("demo_service", "loadgen"):
            raise
        print(DEMO_MISSING.format(missing=exc.name), file=sys.stderr)
        return 1
    return demo_cmd.run(args)


def _serve(args: argparse.Namespace) -> int:
    if args.transport == "stdio":
        from obs_mcp.server import main as serve_stdio

        serve_stdio()
        return 0
    from obs_mcp.config import Settings
    from obs_mcp.errors import InvalidArgument
    from obs_mcp.http_serve import serve_http

    try:
        Settings.from_env()  # a malformed setting (a tenant id) stops here with its sentence
        serve_http(args.transport, args.host, args.port)
    except InvalidArgument as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
