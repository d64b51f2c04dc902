"""A Responses API stand-in on loopback for real Codex (`codex exec`): fixed usage per reply, so
every token figure Codex reports is known, and one scripted shell command.

The first model request gets one `exec_command` function call running COMMAND (the unified-exec
tool Codex 0.171 offers; `shell` if that is what the request offers); a request that already
carries its output gets the text "done". Wired in through a `[model_providers.fake]` table with
`wire_api = "responses"` and `base_url` = this server's /v1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fake_sse import SseHandler, serving, sse

INPUT_TOKENS = 12
OUTPUT_TOKENS = 5


@dataclass
class FakeResponses:
    url: str
    calls: list[tuple[str, int]] = field(default_factory=list)  # (tool called, outputs seen)
    other: list[str] = field(default_factory=list)  # paths of posts that were no model call


def _events(command: str, tools: list[str], outputs: int) -> list[dict[str, Any]]:
    usage = {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    }
    if outputs == 0:
        name = "exec_command" if "exec_command" in tools else "shell"
        args = {"cmd": command} if name == "exec_command" else {"command": ["bash", "-c", command]}
        item = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name,
                "arguments": json.dumps(args)}  # fmt: skip
    else:
        item = {"type": "message", "role": "assistant", "id": "msg_1",
                "content": [{"type": "output_text", "text": "done"}]}  # fmt: skip
    return [
        {"type": "response.created", "response": {"id": "resp_1"}},
        {"type": "response.output_item.done", "item": item},
        {"type": "response.completed", "response": {"id": "resp_1", "usage": usage}},
    ]


def _handler(
    api: FakeResponses, command: str, lock: threading.Lock
) -> type[BaseHTTPRequestHandler]:
    class Handler(SseHandler):
        def do_POST(self) -> None:
            body = self.read_json()
            if "input" not in body:  # not a model call (codex exec also posts its turn ids)
                with lock:
                    api.other.append(self.path)
                self.send_response(404)
                self.end_headers()
                return
            tools = [str(t.get("name") or t.get("type")) for t in body.get("tools") or []]
            outputs = sum(
                1
                for item in body.get("input") or []
                if isinstance(item, dict) and item.get("type") == "function_call_output"
            )
            events = _events(command, tools, outputs)
            with lock:
                api.calls.append((str(events[1]["item"].get("name", "")), outputs))
            self.send_stream(sse(events))

    return Handler


@contextmanager
def fake_responses(command: str) -> Iterator[FakeResponses]:
    api = FakeResponses(url="")
    with serving(_handler(api, command, threading.Lock())) as port:
        api.url = f"http://127.0.0.1:{port}/v1"
        yield api


def codex_provider_toml(api: FakeResponses) -> str:
    """The config.toml lines that send `codex exec` to this server, with no retries."""
    return "\n".join(
        [
            'model = "gpt-5.1-codex"',
            'model_provider = "fake"',
            "[model_providers.fake]",
            'name = "fake"',
            f'base_url = "{api.url}"',
            'wire_api = "responses"',
            "request_max_retries = 0",
            "stream_max_retries = 0",
        ]
    )
