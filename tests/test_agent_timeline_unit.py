"""The session tree from store rows (pure): kinds, nesting, names and the bound."""

from __future__ import annotations

from obs_mcp.core.agent_clients import CLAUDE_CODE, CODEX
from obs_mcp.core.agent_timeline import MAX_NODES, event_timeline, span_timeline

MS = 1_000_000


def _span(
    span_id: str, parent: str, name: str, start_ms: int, end_ms: int, **attrs: str
) -> dict[str, str]:
    service = attrs.pop("service", "claude-code")
    row = {
        "trace_id": "a" * 32, "span_id": span_id, "parent_span_id": parent, "name": name,
        "resource_attr:service.name": service, "start_time_unix_nano": str(start_ms * MS),
        "end_time_unix_nano": str(end_ms * MS), "kind": "1",
    }  # fmt: skip
    row.update({f"span_attr:{k}": v for k, v in attrs.items()})
    return row


def test_span_timeline_nests_the_child_under_the_tool_call() -> None:
    rows = [
        _span("c1", "e1", "child-work", 30, 31, service="app"),
        _span("i1", "", "claude_code.interaction", 0, 100, **{"span.type": "interaction"}),
        _span(
            "l1",
            "i1",
            "claude_code.llm_request",
            1,
            10,
            **{"span.type": "llm_request", "model": "m", "input_tokens": "12"},
        ),
        _span("t1", "i1", "claude_code.tool", 20, 40, **{"span.type": "tool", "tool_name": "Bash"}),
        _span("e1", "t1", "claude_code.tool.execution", 21, 39, **{"span.type": "tool.execution"}),
    ]
    nodes, omitted = span_timeline(CLAUDE_CODE, rows)
    assert omitted == 0
    assert [(n.depth, n.kind, n.name, n.service) for n in nodes] == [
        (0, "prompt", "claude_code.interaction", "claude-code"),
        (1, "api_call", "m", "claude-code"),
        (1, "tool_call", "Bash", "claude-code"),
        (2, "step", "claude_code.tool.execution", "claude-code"),
        (3, "child", "child-work", "app"),
    ]
    assert nodes[1].attributes == {"input_tokens": "12"}
    assert nodes[4].attributes == {}  # a child's own attributes are its business
    assert (nodes[2].duration_ms, nodes[4].time) == (20.0, "1970-01-01T00:00:00.030000Z")


def test_span_timeline_is_bounded() -> None:
    rows = [_span("r", "", "claude_code.interaction", 0, 10_000)] + [
        _span(f"s{i}", "r", "claude_code.tool", i, i + 1) for i in range(MAX_NODES + 5)
    ]
    nodes, omitted = span_timeline(CLAUDE_CODE, rows)
    assert (len(nodes), omitted) == (MAX_NODES, 6)


def test_event_timeline_nests_calls_under_the_prompt() -> None:
    rows = [
        {"_time": "2026-12-02T10:00:00Z", "event.name": "codex.conversation_starts"},
        {"_time": "2026-12-02T10:00:01Z", "event.name": "codex.user_prompt"},
        {
            "_time": "2026-12-02T10:00:02Z",
            "event.name": "codex.api_request",
            "model": "g",
            "duration_ms": "70",
        },
        {
            "_time": "2026-12-02T10:00:03Z",
            "event.name": "codex.tool_result",
            "tool_name": "exec_command",
            "success": "false",
        },
    ]
    nodes, omitted = event_timeline(CODEX, rows)
    assert omitted == 0
    assert [(n.depth, n.kind, n.name) for n in nodes] == [
        (0, "prompt", "codex.user_prompt"),
        (1, "api_call", "g"),
        (1, "tool_call", "exec_command"),
    ]
    assert nodes[2].attributes == {"success": "false", "tool_name": "exec_command"}
