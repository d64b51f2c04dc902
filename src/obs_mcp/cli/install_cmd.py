"""`obs-mcp install CLIENT` and `obs-mcp agent-env CLIENT`: wire a coding agent to this stack.

`install` registers the stdio MCP server in the client's own config; `agent-env` prints what
makes the agent send its OWN telemetry (tokens, cost, tool decisions) into the same stack.
Both read the ports of the stack that `obs-mcp stack up` started (its stack.json), so a stack on
non-default ports is wired correctly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from obs_mcp.agents import (
    CLIENTS,
    SCOPES,
    TELEMETRY_CLIENTS,
    AgentConfigError,
    claude_code_telemetry_text,
    codex_telemetry_toml,
    install,
    server_spec,
)
from obs_mcp.stack.runner import Stack, StackSettings, default_state_dir

COMMANDS = ("install", "agent-env")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inst = sub.add_parser(
        "install",
        help="register the MCP server in Claude Code, Codex or OpenCode (idempotent)",
        description="Add or update the obs-mcp stdio server in the client's own config file; "
        "other servers and keys in that file are kept.",
    )
    inst.add_argument("client", choices=CLIENTS)
    inst.add_argument(
        "--scope",
        choices=SCOPES,
        default="project",
        help="project: the config in the current directory; user: the client's global config",
    )
    inst.add_argument("--name", default="obs", help="server name in the client (default obs)")
    inst.add_argument(
        "--print", dest="print_only", action="store_true", help="print the entry, write nothing"
    )
    _state_dir_arg(inst)
    env = sub.add_parser(
        "agent-env",
        help="print the settings that send an agent's own telemetry into this stack",
    )
    env.add_argument("client", choices=TELEMETRY_CLIENTS)
    env.add_argument(
        "--settings",
        action="store_true",
        help="claude-code: print the ~/.claude/settings.json `env` block instead of exports",
    )
    env.add_argument(
        "--traces",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="claude-code: export traces (beta) and pass TRACEPARENT to Bash children",
    )
    _state_dir_arg(env)


def _state_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the stack whose ports to use (env OBS_MCP_STATE_DIR; default ~/.local/state/obs-mcp)",
    )


def _settings(state_dir: Path | None) -> StackSettings:
    state_dir = state_dir or default_state_dir()
    if (state_dir / "stack.json").exists():
        return Stack.from_state_dir(state_dir).settings
    return StackSettings(state_dir=state_dir)


def run(args: argparse.Namespace) -> int:
    settings = _settings(args.state_dir)
    if args.command == "agent-env":
        if args.client == "codex":
            print(codex_telemetry_toml(settings))
        else:
            print(
                claude_code_telemetry_text(settings, as_settings=args.settings, traces=args.traces)
            )
        return 0
    spec = server_spec(args.name, settings)
    try:
        result = install(args.client, args.scope, spec, dry_run=args.print_only)
    except AgentConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = f"{result.client} ({result.scope})"
    if args.print_only:
        print(f"{where}: {result.path} (--print: nothing written)", file=sys.stderr)
        print(result.snippet)
    elif result.action == "unchanged":
        print(f"{where}: {spec.name!r} already up to date in {result.path} (nothing written)")
    elif result.action == "created":
        print(f"{where}: created {result.path} with server {spec.name!r}")
    else:
        print(f"{where}: {result.action} server {spec.name!r} in {result.path}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
