"""One agent session as a tree: prompts, model calls, tool calls, and the spans of the
processes that continued its trace, nested where they ran. Pure functions over store rows.

From spans when the client exports them (Claude Code's tracing beta: interaction ->
llm_request / tool -> tool.execution -> a child's spans), else from its events in time order.
"""

from __future__ import annotations

from typing import Literal

from obs_mcp.core.agent_clients import AgentClient
from obs_mcp.core.fields import SPAN_ATTR, clip
from obs_mcp.core.trace_tree import Span, build
from obs_mcp.models import TimelineNode
from obs_mcp.timeparse import parse_store_time, rfc3339, rfc3339_ns

MAX_NODES = 120
Kind = Literal["prompt", "api_call", "tool_call", "step", "child", "event"]
SPAN_KINDS: dict[str, Kind] = {
    "interaction": "prompt",
    "llm_request": "api_call",
    "tool": "tool_call",
}
SPAN_SHOWN = ("input_tokens", "output_tokens", "full_command", "success", "decision")
EVENT_SHOWN = ("decision", "source", "success", "duration_ms", "tool_name")


def span_timeline(
    client: AgentClient, rows: list[dict[str, str]]
) -> tuple[list[TimelineNode], int]:
    """Depth-first over the session's traces (one per prompt), the first MAX_NODES spans."""
    spans = build(rows).spans
    nodes = [_span_node(client, s) for s in spans[:MAX_NODES]]
    return nodes, max(0, len(spans) - MAX_NODES)


def _span_node(client: AgentClient, span: Span) -> TimelineNode:
    row = span.row
    own = span.service in client.services
    kind: Kind = SPAN_KINDS.get(row.get(f"{SPAN_ATTR}span.type", ""), "step") if own else "child"
    name = span.operation
    if kind == "tool_call":
        name = row.get(f"{SPAN_ATTR}gen_ai.tool.name") or row.get(f"{SPAN_ATTR}tool_name") or name
    elif kind == "api_call":
        name = row.get(f"{SPAN_ATTR}model") or name
    shown = SPAN_SHOWN if own else ()
    attributes = {k: clip(row[f"{SPAN_ATTR}{k}"], 160) for k in shown if row.get(f"{SPAN_ATTR}{k}")}
    return TimelineNode(
        depth=span.depth,
        time=rfc3339_ns(span.start),
        kind=kind,
        name=name,
        service=span.service or None,
        duration_ms=round(span.duration / 1e6, 3),
        status="error" if span.error else "ok",
        trace_id=row.get("trace_id"),
        span_id=span.span_id,
        attributes=attributes,
    )


def event_timeline(
    client: AgentClient, rows: list[dict[str, str]]
) -> tuple[list[TimelineNode], int]:
    """The session's events in time order; calls nest under the prompt that started them."""
    kinds: dict[str, Kind] = {
        client.prompt: "prompt",
        client.api_request: "api_call",
        client.tool_result: "tool_call",
        client.tool_decision: "event",
    }
    nodes: list[TimelineNode] = []
    prompted = False
    for row in rows:
        kind = kinds.get(row.get("event.name", ""))
        if kind is None:
            continue
        prompted |= kind == "prompt"
        name = row.get("event.name", "")
        if kind in ("tool_call", "event"):
            name = row.get(client.tool) or name
        elif kind == "api_call":
            name = row.get(client.model) or name
        tokens = {k: row[f] for k, f in client.tokens.items() if row.get(f)}
        shown = {k: clip(row[k], 160) for k in EVENT_SHOWN if row.get(k)}
        nodes.append(
            TimelineNode(
                depth=1 if prompted and kind != "prompt" else 0,
                time=rfc3339(parse_store_time(row.get("_time", ""))),
                kind=kind,
                name=name,
                trace_id=row.get("trace_id"),
                span_id=row.get("span_id"),
                attributes={**shown, **tokens},
            )
        )
    return nodes[:MAX_NODES], max(0, len(nodes) - MAX_NODES)
