"""Where each coding agent puts its own session in the stores: service, event and field names.

Every name here was read back from the stores after a real run of the pinned CLI
(tests/test_agent_sessions.py: Claude Code 2.1.332, Codex 0.171.0, model APIs faked on
loopback), never taken from memory. Claude Code's events are logs with `event.name` without
prefix and the session in `session.id`; with its tracing beta on, spans carry
`span_attr:session.id` too. Codex's events carry the prefix and the session in
`conversation.id`; its tokens are on `codex.sse_event` rows of kind `response.completed`, and
its spans carry no session id, so its traces are found through the events' `trace_id`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AgentClient:
    name: str
    services: tuple[str, ...]  # service.name values this client exports under
    session: str  # the log field holding the session id
    prompt: str  # event.name values
    api_request: str
    tool_decision: str
    tool_result: str
    token_event: str  # the event whose fields carry the tokens of one model call
    token_filter: str  # LogsQL narrowing token_event to one row per model call
    tokens: dict[str, str]  # token type -> field on token_event
    api_error: str  # LogsQL filter (over every event) for a failed model call
    span_session: str | None = None  # span field holding the session id, if any
    cost: str | None = None  # USD field on api_request
    model: str = "model"
    tool: str = "tool_name"
    success: str = "success"
    decision: str = "decision"
    accepted: tuple[str, ...] = ()  # decision values meaning "ran"
    mcp_tool: str | None = None  # tool_name of MCP calls; server/tool then in tool_parameters
    subagent: str | None = None  # event field naming the sub-agent that emitted it, if any
    notes: tuple[str, ...] = field(default_factory=tuple)


CLAUDE_CODE = AgentClient(
    name="claude-code",
    services=("claude-code",),
    session="session.id",
    prompt="user_prompt",
    api_request="api_request",
    tool_decision="tool_decision",
    tool_result="tool_result",
    token_event="api_request",
    token_filter="",
    tokens={
        "input": "input_tokens",
        "output": "output_tokens",
        "cache_read": "cache_read_tokens",
        "cache_creation": "cache_creation_tokens",
    },
    api_error="event.name:=api_error",
    span_session="span_attr:session.id",
    cost="cost_usd",
    accepted=("accept",),
    mcp_tool="mcp_tool",
    # a sub-agent's own events (its model calls, tool calls, subagent_completed) carry its id
    # (nested ones add parent_agent_id); the main thread's carry none
    subagent="agent_id",
)

CODEX = AgentClient(
    name="codex",
    services=("codex_exec", "codex-tui", "codex_cli_rs"),
    session="conversation.id",
    prompt="codex.user_prompt",
    api_request="codex.api_request",
    tool_decision="codex.tool_decision",
    tool_result="codex.tool_result",
    token_event="codex.sse_event",
    token_filter='"event.kind":="response.completed" input_token_count:*',
    tokens={
        "input": "input_token_count",
        "output": "output_token_count",
        "cache_read": "cached_token_count",
        "reasoning": "reasoning_token_count",
    },
    api_error='event.name:="codex.api_request" "http.response.status_code":>=400',
    accepted=("approved", "approved_for_session"),
    notes=("codex: no cost field (Codex exports none); MCP calls count under tool calls by name",),
)

CLIENTS: dict[str, AgentClient] = {c.name: c for c in (CLAUDE_CODE, CODEX)}
