"""A Messages API stand-in on loopback for real Claude Code: its usage numbers are fixed, so every
token figure Claude Code reports about a run is known exactly, and it records what it was asked.

While the request offers the scripted tool (default: the obs MCP tool `list_services`), the
replies call it `calls` times (default TOOL_CALLS) with `tool_input`, then answer in text ("done")
after `pause` seconds (default FINAL_REPLY_PAUSE_S). Claude Code counts the tokens of a
request that carries a tool's result under that tool (`mcp_tool.name`), so the last two requests
add to one series, and the pause (longer than the test's metric export interval) puts an export
between their two additions. A request that does not offer the tool gets "done" at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fake_sse import SseHandler, serving, sse

OBS_TOOL = "mcp__obs__list_services"
INPUT_TOKENS = 12  # per reply, from message_start
OUTPUT_TOKENS = 5  # per reply, the final count in message_delta (what Claude Code reports)
TOOL_CALLS = 2
FINAL_REPLY_PAUSE_S = 2.0


@dataclass(frozen=True)
class ApiCall:
    model: str
    offered_tool: bool
    tool_results: int  # tool_result blocks in the conversation so far
    replied_with_tool_use: bool
    subagent: bool = False  # asked by a sub-agent (Script.subagent)


@dataclass
class FakeApi:
    url: str
    calls: list[ApiCall] = field(default_factory=list)


def _reply(model: str, block: dict[str, Any], delta: dict[str, Any], stop: str) -> bytes:
    usage = {"input_tokens": INPUT_TOKENS, "output_tokens": 1}
    message = {
        "id": "msg_obs",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return sse(
        [
            {"type": "message_start", "message": message},
            {"type": "content_block_start", "index": 0, "content_block": block},
            {"type": "content_block_delta", "index": 0, "delta": delta},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": OUTPUT_TOKENS},
            },
            {"type": "message_stop"},
        ]
    )


@dataclass(frozen=True)
class Script:
    """Which tool the fake model calls, with what input, how often, and the pause before "done"."""

    tool: str = OBS_TOOL
    tool_input: dict[str, Any] = field(default_factory=lambda: {"since": "1h"})
    calls: int = TOOL_CALLS
    pause: float = FINAL_REPLY_PAUSE_S
    reject: int | None = None  # an HTTP status for every model call (400: not retried)
    # A request whose first user message holds this text is a sub-agent's (the scripted tool
    # being `Agent`, its prompt carries the text): it answers "done" at once, calling nothing.
    subagent: str | None = None


def _first_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    content = messages[0].get("content") if messages else ""
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


def _handler(api: FakeApi, lock: threading.Lock, script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(SseHandler):
        def do_POST(self) -> None:
            body = self.read_json()
            model = body.get("model", "claude-sonnet-4-5")
            if script.reject is not None:
                with lock:
                    api.calls.append(ApiCall(model, False, 0, False))
                self.send_error_json(script.reject)
                return
            results = sum(
                1
                for message in body.get("messages") or []
                if isinstance(message.get("content"), list)
                for b in message["content"]
                if isinstance(b, dict) and b.get("type") == "tool_result"
            )
            if script.subagent and script.subagent in _first_user_text(body):
                with lock:
                    api.calls.append(ApiCall(model, False, results, False, subagent=True))
                text = {"type": "text_delta", "text": "done"}
                self.send_stream(_reply(model, {"type": "text", "text": ""}, text, "end_turn"))
                return
            offered = script.tool in {t.get("name") for t in body.get("tools") or []}
            use_tool = offered and results < script.calls
            if use_tool:
                call_id = f"toolu_obs{results + 1}"
                block = {"type": "tool_use", "id": call_id, "name": script.tool, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(script.tool_input)}
                data = _reply(model, block, delta, "tool_use")
            else:
                if offered:
                    time.sleep(script.pause)
                text = {"type": "text_delta", "text": "done"}
                data = _reply(model, {"type": "text", "text": ""}, text, "end_turn")
            with lock:
                api.calls.append(ApiCall(model, offered, results, use_tool))
            self.send_stream(data)

    return Handler


@contextmanager
def fake_anthropic(script: Script | None = None) -> Iterator[FakeApi]:
    api = FakeApi(url="")
    with serving(_handler(api, threading.Lock(), script or Script())) as port:
        api.url = f"http://127.0.0.1:{port}"
        yield api
