"""`obs-mcp sessions [SESSION_ID]`: agent_sessions for humans (the same core function).

A table of the sessions, newest first; with a session id, that session's timeline as an
indented tree (children's spans under the tool call that started them). `--json` prints the
exact answer the MCP tool gives.
"""

from __future__ import annotations

import argparse

from pydantic import BaseModel
from rich.console import Group as RichGroup
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from obs_mcp.cli.console import make_console
from obs_mcp.cli.query_cmd import execute
from obs_mcp.core import agent_sessions
from obs_mcp.core.agent_clients import CLIENTS
from obs_mcp.models import AgentSession, AgentSessionsResult

out = make_console()
COMMANDS = {"sessions"}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sessions", help="the coding agent's own sessions: tokens, tools, children")
    p.add_argument("session_id", nargs="?", help="one session, with its timeline tree")
    p.add_argument("--client", choices=sorted(CLIENTS))
    p.add_argument("--since", default="1d")
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--json", action="store_true")


def run(a: argparse.Namespace) -> int:
    return execute(
        lambda b: agent_sessions.agent_sessions(
            b, a.session_id, a.client, a.since, a.start, a.end, a.limit
        ),
        a.json,
        lambda result: out.print(render(result)),
    )


def _tokens(s: AgentSession) -> str:
    return " ".join(f"{k}={v}" for k, v in s.tokens.items() if v)


def _children(s: AgentSession) -> str:
    if s.children is None:
        return "?"
    return ", ".join(f"{c.service} ({c.spans} spans)" for c in s.children) or "-"


def render(result: BaseModel) -> RenderableType:
    assert isinstance(result, AgentSessionsResult)
    t = Table("session", "client", "end", "prompts", "api (err)", "tokens", "cost $", "tools",
              "sub-agents", "children", title=f"{result.returned} of {result.total_sessions} sessions")  # fmt: skip
    for s in result.sessions:
        tools = ", ".join(
            f"{u.tool}×{u.calls}" + (f" ({u.failed} failed)" if u.failed else "")
            for u in s.tool_calls
        )
        t.add_row(
            s.session_id, s.client, s.end, str(s.prompts), f"{s.api_calls} ({s.api_errors})",
            _tokens(s), "-" if s.cost_usd is None else f"{s.cost_usd:.6f}", tools or "-",
            "-" if s.subagents is None else str(s.subagents), _children(s),
        )  # fmt: skip
    parts: list[RenderableType] = [t]
    for s in result.sessions:
        for node in s.timeline:
            mark = " ERROR" if node.status == "error" else ""
            ms = "" if node.duration_ms is None else f" {node.duration_ms:g} ms"
            who = f"{node.service}: " if node.kind == "child" and node.service else ""
            attrs = " ".join(f"{k}={v}" for k, v in node.attributes.items())
            line = f"{'  ' * node.depth}{node.kind} {who}{node.name}{ms}{mark}  {attrs}"
            parts.append(Text(line.rstrip()))
        if s.timeline_omitted:
            parts.append(Text(f"… {s.timeline_omitted} more", style="dim"))
        parts += [Text(f"note: {escape(n)}", style="yellow") for n in s.notes]
    if result.hint:
        parts.append(Text(f"note: {result.hint}", style="yellow"))
    return RichGroup(*parts)
