"""The same server over every real transport: stdio subprocess, Streamable HTTP, SSE, `mcp run`.

Also the HTTP security contract: DNS-rebinding protection on loopback, a bearer token required
(and checked) off loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from tests.answers import text_of
from tests.known_telemetry import (
    OBS_MCP,
    TOKEN_ENV,
    Small,
    http_server,
    is_listening,
    process_env,
    store_env,
)

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MCP_CLI = str(BIN / "mcp")
CALL_TIMEOUT_S = 60
CONTRACT_TOOLS = {
    "list_services",
    "error_rate",
    "search_traces",
    "correlate_trace",
    "query_logs",
    "query_metrics",
}
INIT_BODY: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "obs-mcp-tests", "version": "1"},
    },
}
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


async def connect_error(url: str) -> list[BaseException]:
    """Connect without credentials; return the leaf exceptions (mcp 2.3.0 raises a nested
    ExceptionGroup holding MCPError(-32603, 'Server returned an error response') for a 401)."""
    try:
        async with Client(url) as client:
            await client.list_tools()
    except Exception as exc:
        return leaves(exc)
    raise AssertionError(f"{url} answered without a token")


async def check_real_figures(client: Client, small: Small) -> None:
    """list_services and error_rate through `client` give the known figures."""
    with anyio.fail_after(CALL_TIMEOUT_S):
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} >= CONTRACT_TOOLS
        listed = await client.call_tool("list_services", {"since": "15m"})
        assert not listed.is_error, text_of(listed)
        assert listed.structured_content is not None
        seen = {s["service"]: s for s in listed.structured_content["services"]}
        assert seen[small.service]["spans"] == small.total
        rate = await client.call_tool("error_rate", {"service": small.service, "since": "15m"})
        assert not rate.is_error, text_of(rate)
        r = rate.structured_content
        assert r is not None
        assert (r["total"], r["errors"], r["error_rate"]) == (10, 3, 0.3)
        assert (small.total, small.errors, small.error_rate) == (10, 3, 0.3)
        bad = await client.call_tool("correlate_trace", {"trace_id": "xyz"})
        assert bad.is_error and "32 hex" in text_of(bad)


# ---- the transports ---------------------------------------------------------------------------


async def test_stdio_subprocess(native_stack: Stack, small: Small) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "obs_mcp"], env=store_env(native_stack), cwd=REPO
    )
    async with Client(params) as client:
        assert client.server_info is not None and client.server_info.name == "obs-mcp"
        await check_real_figures(client, small)


async def test_obs_mcp_serve_stdio(native_stack: Stack, small: Small) -> None:
    params = StdioServerParameters(
        command=OBS_MCP, args=["serve", "--transport", "stdio"], env=store_env(native_stack)
    )
    async with Client(params) as client:
        await check_real_figures(client, small)


async def test_streamable_http(native_stack: Stack, small: Small, tmp_path: Path) -> None:
    with http_server(native_stack, "streamable-http", tmp_path) as port:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            await check_real_figures(client, small)
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as client:
            await check_real_figures(client, small)  # pre-2026 initialize handshake too


async def test_sse(native_stack: Stack, small: Small, tmp_path: Path) -> None:
    with http_server(native_stack, "sse", tmp_path) as port:
        async with Client(sse_client(f"http://127.0.0.1:{port}/sse")) as client:
            await check_real_figures(client, small)


async def test_mcp_run_cli(native_stack: Stack, small: Small) -> None:
    """`mcp run src/obs_mcp/server.py` (the SDK CLI) finds the module-level `mcp` and serves."""
    for spec in ("src/obs_mcp/server.py", "src/obs_mcp/server.py:mcp"):
        params = StdioServerParameters(
            command=MCP_CLI, args=["run", spec], env=store_env(native_stack), cwd=REPO
        )
        async with Client(params) as client:
            await check_real_figures(client, small)


# ---- HTTP security ----------------------------------------------------------------------------


async def test_streamable_http_dns_rebinding_protection(
    native_stack: Stack, tmp_path: Path
) -> None:
    with http_server(native_stack, "streamable-http", tmp_path) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx2.AsyncClient(timeout=10) as http:
            evil_host = await http.post(
                url, json=INIT_BODY, headers={**JSON_HEADERS, "Host": "evil.example"}
            )
            assert evil_host.status_code == 421, evil_host.text
            evil_origin = await http.post(
                url, json=INIT_BODY, headers={**JSON_HEADERS, "Origin": "http://evil.example"}
            )
            assert evil_origin.status_code == 403, evil_origin.text
            local_origin = await http.post(
                url, json=INIT_BODY, headers={**JSON_HEADERS, "Origin": f"http://127.0.0.1:{port}"}
            )
            assert local_origin.status_code == 200, local_origin.text
            plain = await http.post(url, json=INIT_BODY, headers=JSON_HEADERS)
            assert plain.status_code == 200 and '"serverInfo"' in plain.text


async def test_sse_dns_rebinding_protection(native_stack: Stack, tmp_path: Path) -> None:
    with http_server(native_stack, "sse", tmp_path) as port:
        url = f"http://127.0.0.1:{port}/sse"
        async with httpx2.AsyncClient(timeout=10) as http:
            async with http.stream("GET", url, headers={"Host": "evil.example"}) as answer:
                assert answer.status_code == 421
            async with http.stream("GET", url, headers={"Origin": "http://evil.example"}) as answer:
                assert answer.status_code == 403
            async with http.stream("GET", url) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_non_loopback_without_token_refuses_to_start(native_stack: Stack, transport: str) -> None:
    port = free_port("127.0.0.1")
    argv = [OBS_MCP, "serve", "--transport", transport, "--host", "0.0.0.0", "--port", str(port)]
    proc = subprocess.Popen(
        argv, env=process_env(native_stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode not in (0, None)
    assert TOKEN_ENV in err.decode(), (out, err)
    assert not is_listening(port)


async def test_bearer_token_on_loopback(native_stack: Stack, small: Small, tmp_path: Path) -> None:
    token = "s3cret-" + os.urandom(8).hex()
    with http_server(native_stack, "streamable-http", tmp_path, **{TOKEN_ENV: token}) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx2.AsyncClient(timeout=10) as http:
            missing = await http.post(url, json=INIT_BODY, headers=JSON_HEADERS)
            assert missing.status_code == 401
            assert missing.headers.get("www-authenticate") == "Bearer"
            assert token not in missing.text
            wrong = await http.post(
                url, json=INIT_BODY, headers={**JSON_HEADERS, "Authorization": "Bearer nope"}
            )
            assert wrong.status_code == 401
            bare = await http.post(
                url, json=INIT_BODY, headers={**JSON_HEADERS, "Authorization": token}
            )
            assert bare.status_code == 401  # the scheme is required
            right = await http.post(
                url, json=INIT_BODY, headers={**JSON_HEADERS, "Authorization": f"Bearer {token}"}
            )
            assert right.status_code == 200, right.text
            evil = await http.post(
                url,
                json=INIT_BODY,
                headers={
                    **JSON_HEADERS,
                    "Authorization": f"Bearer {token}",
                    "Host": "evil.example",
                },
            )
            assert evil.status_code == 421  # loopback keeps DNS-rebinding protection with a token
        authed = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300)
        )
        async with authed, Client(streamable_http_client(url, http_client=authed)) as client:
            await check_real_figures(client, small)
        with anyio.fail_after(CALL_TIMEOUT_S):
            refused = await connect_error(url)
        assert any(isinstance(e, MCPError | httpx2.HTTPStatusError) for e in refused), refused


async def test_bearer_scheme_is_case_insensitive(native_stack: Stack, tmp_path: Path) -> None:
    """RFC 7235: the auth-scheme is a case-insensitive token, so `bearer <token>` is accepted;
    the token itself stays exact and another scheme is still refused."""
    token = "s3cret-" + os.urandom(8).hex()
    with http_server(native_stack, "streamable-http", tmp_path, **{TOKEN_ENV: token}) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx2.AsyncClient(timeout=10) as http:

            async def status(authorization: str) -> int:
                headers = {**JSON_HEADERS, "Authorization": authorization}
                return (await http.post(url, json=INIT_BODY, headers=headers)).status_code

            for spelling in (f"bearer {token}", f"BEARER {token}", f"bEaReR {token}"):
                assert await status(spelling) == 200, spelling
            assert await status(f"Bearer  {token}") == 200  # RFC 7235 allows 1*SP
            assert await status(f"bearer {token.upper()}") == 401  # the token is case-sensitive
            assert await status(f"Basic {token}") == 401
            assert await status(f"Bearer{token}") == 401


async def test_bearer_token_sse(native_stack: Stack, small: Small, tmp_path: Path) -> None:
    token = "s3cret-" + os.urandom(8).hex()
    with http_server(native_stack, "sse", tmp_path, **{TOKEN_ENV: token}) as port:
        url = f"http://127.0.0.1:{port}/sse"
        async with (
            httpx2.AsyncClient(timeout=10) as http,
            http.stream("GET", url) as answer,
        ):
            assert answer.status_code == 401
        transport = sse_client(url, headers={"Authorization": f"Bearer {token}"})
        async with Client(transport) as client:
            await check_real_figures(client, small)


async def test_non_loopback_with_token(native_stack: Stack, small: Small, tmp_path: Path) -> None:
    """Off loopback the token is the guard; the Host check is off so remote names work."""
    token = "s3cret-" + os.urandom(8).hex()
    with http_server(
        native_stack, "streamable-http", tmp_path, host="0.0.0.0", **{TOKEN_ENV: token}
    ) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx2.AsyncClient(timeout=10) as http:
            missing = await http.post(url, json=INIT_BODY, headers=JSON_HEADERS)
            assert missing.status_code == 401
            remote_name = await http.post(
                url,
                json=INIT_BODY,
                headers={
                    **JSON_HEADERS,
                    "Authorization": f"Bearer {token}",
                    "Host": "obs.example.internal",
                },
            )
            assert remote_name.status_code == 200, remote_name.text
        authed = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300)
        )
        async with authed, Client(streamable_http_client(url, http_client=authed)) as client:
            await check_real_figures(client, small)


# ---- wire-level contract (JSON, not in-memory Python objects) ---------------------------------


async def test_range_query_with_non_finite_values_over_the_wire(native_stack: Stack) -> None:
    """±Inf samples must not break the answer on the wire: the structured content has to be
    valid JSON that matches the advertised outputSchema (the client validates it)."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "obs_mcp"], env=store_env(native_stack), cwd=REPO
    )
    async with Client(params) as client:
        with anyio.fail_after(CALL_TIMEOUT_S):
            result = await client.call_tool(
                "query_metrics", {"query": "vector(1)/0", "since": "5m", "step": "1m"}
            )
        assert not result.is_error, text_of(result)
        assert result.structured_content is not None
        points = result.structured_content["series"][0]["values"]
        assert 5 <= len(points) <= 6  # 5 minutes at a 1-minute step


async def test_instant_query_with_non_finite_value_over_the_wire(native_stack: Stack) -> None:
    """An instant +Inf survives as a valid answer (value null: `value` is nullable)."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "obs_mcp"], env=store_env(native_stack), cwd=REPO
    )
    async with Client(params) as client:
        with anyio.fail_after(CALL_TIMEOUT_S):
            result = await client.call_tool("query_metrics", {"query": "vector(1)/0"})
        assert not result.is_error, text_of(result)
        assert result.structured_content is not None
        assert result.structured_content["returned"] == 1
