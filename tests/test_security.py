"""Security on the real stack: loopback-only sockets, request size limit, no leaked store
credentials, and a server that only ever reads from the stores.

Host/Origin (DNS-rebinding) checks and the bearer-token guard are in tests/test_transports.py.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from opentelemetry.trace import SpanKind, Status, StatusCode

from obs_mcp.stack.runner import Stack
from tests.answers import text_of
from tests.faultkit import (
    FaultProxy,
    hostport,
    listening_addresses,
    log_count,
    serve_http,
    span_count,
    tool_session,
)
from tests.otel_emit import emitter
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

SECRET_TOKEN = "secret-xyz"
SECRET_HEADER = "hdr-secret-123"
SECRET_PASSWORD = "pw-secret-456"
SECRETS = (SECRET_TOKEN, SECRET_HEADER, SECRET_PASSWORD)
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


# ---- everything listens on loopback only ------------------------------------------------------
def test_stack_and_mcp_http_listen_on_loopback_only(native_stack: Stack, tmp_path: Path) -> None:
    checked: dict[str, list[tuple[str, int]]] = {}
    for comp in native_stack.status():
        assert comp.pid is not None, f"{comp.name} not running"
        checked[comp.name] = listening_addresses(comp.pid)
    with serve_http(native_stack.settings.store_env(), tmp_path / "serve.log") as (proc, port):
        checked["obs-mcp serve"] = listening_addresses(proc.pid)
        assert ("127.0.0.1", port) in checked["obs-mcp serve"]
    for name, sockets in checked.items():
        assert sockets, f"{name}: no listening socket found"
        for addr, port in sockets:
            assert ipaddress.ip_address(addr).is_loopback, f"{name} listens on {addr}:{port}"
    print(f"\nlistening sockets (all loopback): {checked}")


# ---- HTTP: request size limit -----------------------------------------------------------------
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_oversized_request_body_is_refused(
    native_stack: Stack, tmp_path: Path, transport: str
) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"a" * (2 << 20) + b'"}}'
    with serve_http(native_stack.settings.store_env(), tmp_path / "s.log", transport) as (
        _proc,
        port,
    ):
        base = f"http://127.0.0.1:{port}"
        if transport == "streamable-http":
            answer = httpx2.post(f"{base}/mcp", content=body, headers=JSON_HEADERS, timeout=10)
        else:
            with httpx2.stream("GET", f"{base}/sse", timeout=10) as events:
                endpoint = next(
                    line.split(":", 1)[1].strip()
                    for line in events.iter_lines()
                    if line.startswith("data:")
                )
                answer = httpx2.post(f"{base}{endpoint}", content=body, headers=JSON_HEADERS)
        assert answer.status_code == 413, (answer.status_code, answer.text[:200])
        assert _proc.poll() is None, "the server must survive an oversized request"


# ---- store credentials never leak -------------------------------------------------------------
def _secret_env(vl_url: str, stack: Stack) -> dict[str, str]:
    return {
        **stack.settings.store_env(),
        "VL_URL": vl_url,
        "VL_BEARER_TOKEN": SECRET_TOKEN,
        "VL_HEADERS": f"X-Api-Key: {SECRET_HEADER}; X-Other: plain",
        "OBS_MCP_TIMEOUT": "3",
    }


async def _errors_from_logs_tools(env: dict[str, str]) -> list[str]:
    texts = []
    async with tool_session(env) as client:
        for tool, args in (
            ("query_logs", {}),
            ("query_logs", {"service": "nope"}),
            ("list_services", {}),
            ("correlate_trace", {"trace_id": "ab" * 16}),
        ):
            result = await client.call_tool(tool, args)
            texts.append(text_of(result) + repr(result.structured_content))
    return texts


@pytest.mark.parametrize("fault", ["dead-port", "401-echo", "500-echo", "password-in-url"])
async def test_store_credentials_never_in_errors_or_logs(
    native_stack: Stack,
    fault: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    status = {"401-echo": 401, "500-echo": 500}.get(fault, 500)
    with FaultProxy("127.0.0.1:1", mode="respond", status=status) as proxy:
        url = {
            "dead-port": "http://127.0.0.1:1",
            "password-in-url": f"http://user:{SECRET_PASSWORD}@127.0.0.1:1",
        }.get(fault, proxy.url)
        texts = await _errors_from_logs_tools(_secret_env(url, native_stack))
    if fault.endswith("echo"):
        assert proxy.requests, "the proxy was not asked"
        assert any("<redacted>" in t for t in texts), texts  # the echo was there, masked
    joined = "\n".join(texts)
    assert "VictoriaLogs" in joined
    out, err = capfd.readouterr()
    for secret in SECRETS:
        assert secret not in joined, f"{secret} in tool output: {joined[:2000]}"
        assert secret not in caplog.text, f"{secret} in server logs"
        assert secret not in out + err, f"{secret} on stdout/stderr"


def test_store_credentials_not_in_http_server_log(native_stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with FaultProxy("127.0.0.1:1", mode="respond", status=401) as proxy:
        env = _secret_env(proxy.url, native_stack)
        with serve_http(env, log) as (_proc, port):
            import anyio

            async def calls() -> list[str]:
                async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                    out = []
                    for tool in ("query_logs", "list_services"):
                        out.append(text_of(await client.call_tool(tool, {})))
                    return out

            texts = anyio.run(calls)
    assert any("HTTP 401" in t for t in texts), texts
    combined = "\n".join(texts) + log.read_text()
    for secret in SECRETS:
        assert secret not in combined


# ---- read-only towards the stores -------------------------------------------------------------
ALLOWED_PREFIXES = ("/select/", "/api/v1/", "/health", "/metrics")
FORBIDDEN = ("/insert", "/delete", "/internal", "/api/v1/admin", "/snapshot", "/force")


def _args_for(tool: str, props: set[str], service: str, trace_id: str) -> list[dict[str, Any]]:
    base: dict[str, Any] = {}
    if "service" in props:
        base["service"] = service
    if "trace_id" in props:
        base["trace_id"] = trace_id
    if "query" in props:
        base["query"] = "vector(1)" if tool == "query_metrics" else "*"
    variants = [base]
    if "since" in props:
        variants.append({**base, "since": "1h"})
    if tool == "search_traces":
        variants.append({**base, "errors_only": True, "tags": {"http.route": "/r"}})
        variants.append({**base, "service": "no-such-service"})  # the empty-result hint path
    if tool == "query_metrics":
        variants.append({**base, "since": "30m"})
    if tool == "query_logs":
        variants.append({**base, "service": "no-such-service"})
    if tool == "error_rate":
        variants.append({**base, "service": "no-such-service"})
    if tool == "compare_runs":
        variants.append({**base, "baseline_start": "2h", "baseline_end": "1h"})
    if tool == "wait_for_data":  # no new data comes: keep its timeout short
        variants = [{**v, "timeout": 1} for v in variants]
    return variants


async def test_tools_only_read_from_the_stores(native_stack: Stack) -> None:
    s = native_stack.settings
    service = f"ro-{uuid.uuid4().hex[:6]}"
    em = emitter(s.otlp_http_url, service)
    with em.tracer.start_as_current_span("GET /r", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.route", "/r")
        span.set_status(Status(StatusCode.ERROR, "boom"))
        em.logger.error("read-only probe")
        trace_id = format(span.get_span_context().trace_id, "032x")
    em.meter.create_counter("ro.probe").add(1)
    em.shutdown()
    wait_for(lambda: log_count(native_stack, service) == 1 and span_count(native_stack, service))
    collector_metrics = s.collector_metrics_url.removesuffix("/metrics")
    with (
        FaultProxy(hostport(s.vl_url)) as vl,
        FaultProxy(hostport(s.vm_url)) as vm,
        FaultProxy(hostport(s.vt_url)) as vt,
        FaultProxy(hostport(collector_metrics)) as col,
    ):
        env = {
            "VL_URL": vl.url,
            "VM_URL": vm.url,
            "VT_URL": vt.url,
            "OBS_MCP_COLLECTOR_METRICS_URL": f"{col.url}/metrics",
            "OBS_MCP_TIMEOUT": "10",
        }
        calls = 0
        async with tool_session(env) as client:
            tools = (await client.list_tools()).tools
            for tool in tools:
                props = set(tool.input_schema.get("properties", {}))
                for args in _args_for(tool.name, props, service, trace_id):
                    result = await client.call_tool(tool.name, args)
                    calls += 1
                    assert "internal error in" not in text_of(result), (tool.name, text_of(result))
        requests = [
            (p, m, t)
            for p in ("vl", "vm", "vt", "col")
            for m, t in {"vl": vl, "vm": vm, "vt": vt, "col": col}[p].requests
        ]
    assert len(tools) >= 6 and requests
    methods = {m for _p, m, _t in requests}
    paths = sorted({t.split("?")[0] for _p, _m, t in requests})
    print(
        f"\nread-only: {len(tools)} tools, {calls} calls, {len(requests)} store requests, "
        f"methods {methods}, paths {paths}"
    )
    assert methods == {"GET"}, requests
    for _p, _m, target in requests:
        path = target.split("?")[0]
        assert path.startswith(ALLOWED_PREFIXES), target
        assert not any(bad in path for bad in FORBIDDEN), target
