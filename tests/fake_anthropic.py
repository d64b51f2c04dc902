"""A Messages API stand-in on loopback for real Claude Code: its usage numbers are fixed, so every
token figure Claude Code reports about a run is known exactly, and it records what it was asked.

While the request offers the obs MCP tool `list_services`, the replies call it TOOL_CALLS times,
then answer in text ("done") after FINAL_REPLY_PAUSE_S. Claude Code counts the tokens of a
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OBS_TOOL = "mcp__obs__list_services"
INPUT_TOKENS = 12  # per reply, from message_start
OUTPUT_TOKENS = 5  # per reply, the final count in message_delta (what Claude Code reports)
TOOL_CALLS = 2
FINAL_REPLY_PAUSE_S = 2.0


@dataclass(frozen=True)
class ApiCall:
    model: str
    offered_obs_tool: bool
    tool_results: int  # tool_result blocks in the conversation so far
    replied_with_tool_use: bool


@dataclass
class FakeApi:
    url: str
    calls: list[ApiCall] = field(default_factory=list)


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


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
    return _sse(
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


def _handler(api: FakeApi, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.loads(raw or b"{}")
            model = body.get("model", "claude-sonnet-4-5")
            results = sum(
                1
                for message in body.get("messages") or []
                if isinstance(message.get("content"), list)
                for b in message["content"]
                if isinstance(b, dict) and b.get("type") == "tool_result"
            )
            offered = OBS_TOOL in {t.get("name") for t in body.get("tools") or []}
            use_tool = offered and results < TOOL_CALLS
            if use_tool:
                call_id = f"toolu_obs{results + 1}"
                block = {"type": "tool_use", "id": call_id, "name": OBS_TOOL, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": '{"since": "1h"}'}
                data = _reply(model, block, delta, "tool_use")
            else:
                if offered:
                    time.sleep(FINAL_REPLY_PAUSE_S)
                text = {"type": "text_delta", "text": "done"}
                data = _reply(model, {"type": "text", "text": ""}, text, "end_turn")
            with lock:
                api.calls.append(ApiCall(model, offered, results, use_tool))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_anthropic() -> Iterator[FakeApi]:
    lock = threading.Lock()
    api = FakeApi(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api, lock))
    api.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
