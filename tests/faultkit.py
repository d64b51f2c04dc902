"""Helpers for the fault, security and load tests: own stacks, a fault-injecting proxy, counts.

`FaultProxy` is a TCP proxy on a free loopback port that runs its own event loop in a thread
(so sync and async tests can use it). Modes: `pass` (forward, recording each request line),
`delay` (forward each request after `delay_s`), `stall` (accept and read, never answer), `respond` (answer
every request with `status` and a body that echoes the request headers, like a careless
auth proxy would).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx2
from mcp import Client
from mcp.types import CallToolResult

from obs_mcp.stack.procs import free_port, pid_alive
from obs_mcp.stack.runner import ComponentStatus, Stack, StackPorts, StackSettings

Mode = Literal["pass", "delay", "stall", "respond"]


# ---- own stacks ----------------------------------------------------------------------------
@contextlib.contextmanager
def own_stack() -> Iterator[Stack]:
    """A throwaway native stack (free ports, temp dir) for destructive tests; always removed."""
    state_dir = Path(tempfile.mkdtemp(prefix="obs-mcp-fault-stack-"))
    stack = Stack(StackSettings(state_dir=state_dir, ports=StackPorts.free(), die_with_parent=True))
    try:
        stack.up(install=False)
        yield stack
    finally:
        stack.down(wipe=True, grace_seconds=5)
        shutil.rmtree(state_dir, ignore_errors=True)


def component(stack: Stack, name: str) -> ComponentStatus:
    return next(c for c in stack.status() if c.name == name)


def kill_component(stack: Stack, name: str, sig: int = signal.SIGKILL, wait_s: float = 15) -> int:
    """Signal one stack process (pid from stack.json) and wait until it has gone."""
    pid = component(stack, name).pid
    assert pid is not None, f"{name} is not running"
    os.kill(pid, sig)
    deadline = time.monotonic() + wait_s
    while pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    assert not pid_alive(pid), f"{name} (pid {pid}) did not exit after signal {sig}"
    return pid


# ---- counting what the stores hold --------------------------------------------------------
def logsql_count(base_url: str, query: str, extra: dict[str, str] | None = None) -> int:
    """`<query> | stats count() n` over the last day, straight from a store's LogsQL API."""
    params = {"query": f"{query} | stats count() n", "start": "1d", **(extra or {})}
    response = httpx2.get(f"{base_url}/select/logsql/query", params=params, timeout=10)
    response.raise_for_status()
    lines = [line for line in response.text.splitlines() if line.strip()]
    if not lines:
        return 0
    import json

    return int(json.loads(lines[0]).get("n", 0))


def log_count(stack: Stack, service: str) -> int:
    return logsql_count(stack.settings.vl_url, f'"service.name":="{service}"')


def _plain_rows(base: str, query: str, extra: dict[str, str] | None = None) -> list[str]:
    """Lines of a plain (limited) LogsQL query: what the tools read, which can trail
    `stats count()` by about a second right after ingestion."""
    params = {"query": query, "limit": "1000", **(extra or {})}
    answer = httpx2.get(f"{base}/select/logsql/query", params=params, timeout=10)
    return [line for line in answer.text.splitlines() if line.strip()]


def log_rows(stack: Stack, service: str) -> list[str]:
    return _plain_rows(stack.settings.vl_url, f'"service.name":="{service}"')


def span_rows(stack: Stack, service: str) -> list[str]:
    return _plain_rows(
        stack.settings.vt_url,
        f'"resource_attr:service.name":="{service}"',
        {"disable_latency_offset": "true"},
    )


def span_count(stack: Stack, service: str) -> int:
    return logsql_count(
        stack.settings.vt_url,
        f'"resource_attr:service.name":="{service}"',
        {"disable_latency_offset": "true"},
    )


def metric_value(stack: Stack, query: str) -> float | None:
    response = httpx2.get(
        f"{stack.settings.vm_url}/api/v1/query", params={"query": query}, timeout=10
    )
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def settle(probe: Any, want: Any, timeout: float = 60.0, interval: float = 0.5) -> Any:
    """Poll `probe()` until it equals `want` (or the time is up); return the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx2.HTTPError):
            last = probe()
            if last == want:
                return last
        time.sleep(interval)
    return last


# ---- fault-injecting proxy ------------------------------------------------------------------
@dataclass
class FaultProxy:
    upstream: str  # "host:port"
    mode: Mode = "pass"
    delay_s: float = 0.0
    status: int = 500
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, target)
    open_connections: int = 0
    accepted: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def start() -> None:
                self._server = await asyncio.start_server(self._handle, self.host, self.port)
                ready.set()

            loop.run_until_complete(start())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"proxy-{self.port}")
        self._thread.start()
        assert ready.wait(5), "proxy did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        loop = self._loop
        assert loop is not None and self._thread is not None

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)

    def wait_idle(self, timeout: float = 5.0) -> int:
        """Wait until every client connection is closed; return how many are still open."""
        deadline = time.monotonic() + timeout
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.open_connections

    # -- per connection --
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_connections += 1
        try:
            if self.mode == "stall":
                while await reader.read(65536):
                    pass
            elif self.mode == "respond":
                await self._respond(reader, writer)
            else:
                await self._forward(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.open_connections -= 1
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
        """One HTTP/1.1 request: (head, body); None at EOF. Records the request line."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode(errors="replace").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        self.requests.append((method, rest.rsplit(" ", 1)[0]))
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await reader.readexactly(length) if length else b""
        return head, body

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await self._read_request(reader)) is not None:
            head, _body = request
            echo = b"upstream says no; you sent:\n" + head
            writer.write(
                f"HTTP/1.1 {self.status} Nope\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(echo)}\r\n\r\n".encode()
                + echo
            )
            await writer.drain()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = self.upstream.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))

        async def client_to_upstream() -> None:
            while (request := await self._read_request(reader)) is not None:
                head, body = request
                if self.mode == "delay":
                    await asyncio.sleep(self.delay_s)
                up_writer.write(head + body)
                await up_writer.drain()
            up_writer.close()

        async def upstream_to_client() -> None:
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
            writer.close()

        tasks = [
            asyncio.ensure_future(client_to_upstream()),
            asyncio.ensure_future(upstream_to_client()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            # the client hung up or the upstream closed: give the other side a moment, then end
            await asyncio.wait(tasks, timeout=1.0)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                up_writer.close()


def hostport(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


# ---- MCP sessions in memory -----------------------------------------------------------------
@contextlib.asynccontextmanager
async def tool_session(env: dict[str, str]) -> AsyncIterator[Client]:
    """One in-memory MCP session whose store settings come from `env` (read at lifespan start)."""
    from obs_mcp.server import mcp

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        async with Client(mcp) as client:
            yield client
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def timed_call(
    client: Client, tool: str, args: dict[str, Any]
) -> tuple[CallToolResult, float]:
    started = time.monotonic()
    result = await client.call_tool(tool, args)
    return result, time.monotonic() - started


# ---- the MCP server as a subprocess ---------------------------------------------------------
OBS_MCP_BIN = str(Path(sys.executable).parent / "obs-mcp")


@contextlib.contextmanager
def serve_http(
    env: dict[str, str], log_path: Path, transport: str = "streamable-http"
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`obs-mcp serve --transport <transport>` on a free loopback port; always stopped."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "OBS_MCP_HTTP_TOKEN"} | env
    argv = [OBS_MCP_BIN, "serve", "--transport", transport, "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, log_path.read_text()[-2000:]
                assert time.monotonic() < deadline, "obs-mcp serve did not listen"
                time.sleep(0.1)
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                addr, port = fields[1].rsplit(":", 1)
                found.append((_decode_addr(addr), int(port, 16)))
    return found


def _decode_addr(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))
