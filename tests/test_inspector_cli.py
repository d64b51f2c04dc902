"""The server driven by a real third-party client: the MCP Inspector CLI (pinned in
tests/clients, installed once by `npm ci`; nothing is fetched at test time).

Facts checked against @modelcontextprotocol/inspector 2.12.0: the server command comes after
`--cli`; the store env must be passed with `-e KEY=VALUE` (a stdio server does not inherit the
Inspector's own environment); `--format json` prints one `{"result": ...}` object; exit code 5
when the tool result has isError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from obs_mcp.stack.runner import Stack
from tests.known_telemetry import Small, http_server

pytestmark = [pytest.mark.stack, pytest.mark.slow]

INSPECTOR_TIMEOUT_S = 300
REPO = Path(__file__).resolve().parent.parent
SIX_TOOLS = {
    "list_services",
    "error_rate",
    "search_traces",
    "correlate_trace",
    "query_logs",
    "query_metrics",
}


def env_flags(stack: Stack) -> list[str]:
    flags: list[str] = []
    for key, value in stack.settings.store_env().items():
        flags += ["-e", f"{key}={value}"]
    return flags


Inspector = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def inspector(client_bin: Path) -> Inspector:
    """`mcp-inspector --cli TARGET... ARGS...` from the pinned install; env defaults to ours."""

    def run(
        target: list[str], *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(client_bin / "mcp-inspector"), "--cli", *target, *args],
            capture_output=True,
            text=True,
            timeout=INSPECTOR_TIMEOUT_S,
            cwd=REPO,
            env=env or {**os.environ, "NO_COLOR": "1"},
            check=False,
        )

    return run


def stdio_target(stack: Stack) -> list[str]:
    return [*env_flags(stack), sys.executable, "-m", "obs_mcp"]


def result_of(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        payload = json.loads(run.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"not JSON (rc={run.returncode}): {run.stdout!r} {run.stderr}"
        ) from exc
    assert "result" in payload, payload
    result: dict[str, Any] = payload["result"]
    return result


def test_tools_list(inspector: Inspector, native_stack: Stack) -> None:
    run = inspector(stdio_target(native_stack), "--method", "tools/list", "--format", "json")
    assert run.returncode == 0, run.stderr
    tools = result_of(run)["tools"]
    assert {t["name"] for t in tools} >= SIX_TOOLS
    for tool in tools:
        assert tool["annotations"]["readOnlyHint"] is True, tool["name"]
        assert tool["outputSchema"]["type"] == "object", tool["name"]
        assert tool["inputSchema"]["type"] == "object", tool["name"]


def test_tools_list_strict_schema_portability(inspector: Inspector, native_stack: Stack) -> None:
    """--strict exits 6 on an error-severity tool-schema portability problem."""
    run = inspector(
        stdio_target(native_stack), "--method", "tools/list", "--strict", "--format", "json"
    )
    assert run.returncode == 0, run.stderr[-3000:]


def test_error_rate_exact_figures(inspector: Inspector, native_stack: Stack, small: Small) -> None:
    args = json.dumps({"service": small.service, "since": "15m"})
    run = inspector(
        stdio_target(native_stack),
        "--method",
        "tools/call",
        "--tool-name",
        "error_rate",
        "--tool-args-json",
        args,
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    result = result_of(run)
    assert result["isError"] is False
    figures = result["structuredContent"]
    assert (figures["total"], figures["errors"], figures["error_rate"]) == (10, 3, 0.3)
    assert figures["service"] == small.service
    text = json.loads(result["content"][0]["text"])  # the text block carries the same JSON
    assert (text["total"], text["errors"]) == (10, 3)


def test_correlate_trace_with_key_value_args(
    inspector: Inspector, native_stack: Stack, small: Small
) -> None:
    run = inspector(
        stdio_target(native_stack),
        "--method",
        "tools/call",
        "--tool-name",
        "correlate_trace",
        "--tool-arg",
        f"trace_id={small.error_trace_id}",
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    trace = result_of(run)["structuredContent"]
    assert trace["found"] is True and trace["error_count"] == 1
    assert trace["spans"][0]["logs"][0]["severity"] == "ERROR"


def test_is_error_exits_5(inspector: Inspector, native_stack: Stack) -> None:
    run = inspector(
        stdio_target(native_stack),
        "--method",
        "tools/call",
        "--tool-name",
        "correlate_trace",
        "--tool-args-json",
        '{"trace_id": "xyz"}',
        "--format",
        "json",
    )
    assert run.returncode == 5, (run.stdout, run.stderr)
    result = result_of(run)
    assert result["isError"] is True
    assert "32 hex" in result["content"][0]["text"]


@pytest.mark.default_ports
def test_process_env_is_not_forwarded_to_stdio_server(
    inspector: Inspector, native_stack: Stack
) -> None:
    """Without -e, the server does not see the Inspector's environment: it falls back to the
    default store URLs. stack_health names the URLs the server uses, so this holds whether or
    not some stack listens on the default ports (only `up` would differ, and it is not read)."""
    defaults = {
        "VictoriaLogs": "http://127.0.0.1:9428",
        "VictoriaMetrics": "http://127.0.0.1:8428",
        "VictoriaTraces": "http://127.0.0.1:10428",
    }
    settings = native_stack.settings
    ours = {
        "VictoriaLogs": settings.vl_url,
        "VictoriaMetrics": settings.vm_url,
        "VictoriaTraces": settings.vt_url,
    }
    env = {**os.environ, **settings.store_env(), "NO_COLOR": "1"}
    health = ["--method", "tools/call", "--tool-name", "stack_health", "--format", "json"]

    def store_urls(target: list[str]) -> dict[str, str]:
        run = inspector(target, *health, env=env)
        assert run.returncode == 0, (run.stdout, run.stderr)
        stores = result_of(run)["structuredContent"]["stores"]
        return {store["store"]: store["url"] for store in stores}

    assert store_urls([sys.executable, "-m", "obs_mcp"]) == defaults
    assert store_urls([*env_flags(native_stack), sys.executable, "-m", "obs_mcp"]) == ours


def test_streamable_http_target(
    inspector: Inspector, native_stack: Stack, small: Small, tmp_path: Path
) -> None:
    with http_server(native_stack, "streamable-http", tmp_path) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        listed = inspector([url], "--method", "tools/list", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        assert {t["name"] for t in result_of(listed)["tools"]} >= SIX_TOOLS
        args = json.dumps({"service": small.service, "since": "15m"})
        called = inspector(
            [url],
            "--method",
            "tools/call",
            "--tool-name",
            "error_rate",
            "--tool-args-json",
            args,
            "--format",
            "json",
        )
        assert called.returncode == 0, called.stderr
        assert result_of(called)["structuredContent"]["errors"] == 3


def test_mcp_dev_server_command_serves_tools(inspector: Inspector, native_stack: Stack) -> None:
    """`mcp dev src/obs_mcp/server.py` hands the Inspector `uv run --with mcp==X mcp run FILE`;
    that exact command, driven by the Inspector CLI, must serve the tools."""
    from mcp.cli.cli import _build_uv_command

    command = _build_uv_command("src/obs_mcp/server.py")
    assert command[:2] == ["uv", "run"] and command[-3:] == ["mcp", "run", "src/obs_mcp/server.py"]
    venv_bin = str(Path(sys.executable).parent)  # uv is a dev dependency
    env = {**os.environ, "NO_COLOR": "1", "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    # The Inspector gives a stdio server only HOME, PATH, SHELL and TERM: uv, which resolves
    # the build from PyPI, gets its settings and the CA bundle (a TLS proxy's) through -e.
    uv_env = {k: v for k, v in os.environ.items() if k.startswith(("UV_", "SSL_CERT_"))}
    uv_env["UV_PYTHON_DOWNLOADS"] = "never"
    uv_flags = [flag for key, value in uv_env.items() for flag in ("-e", f"{key}={value}")]
    run = inspector(
        [*env_flags(native_stack), *uv_flags, *command],
        "--method",
        "tools/list",
        "--format",
        "json",
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    names = {tool["name"] for tool in result_of(run)["tools"]}
    assert names >= SIX_TOOLS
