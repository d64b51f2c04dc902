"""obs-mcp works outside its checkout: the wheel, installed into a fresh virtualenv in a temp
dir, runs `stack up`, a tool call, `install <client>` (+ the server it registers) and `stack
down` from a directory outside the repository."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from obs_mcp.stack.install import install_all
from obs_mcp.stack.runner import StackPorts
from tests.known_telemetry import wait_for_count
from tests.otlp_direct import SERVER, SpanSpec, new_id, send_spans

pytestmark = [pytest.mark.stack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = {  # wheel path -> the repository file it must be a copy of (one source of truth)
    "obs_mcp/stack/data/versions.env": "versions.env",
    "obs_mcp/stack/data/collector/config.yaml": "collector/config.yaml",
    "obs_mcp/stack/data/collector/builder-config.yaml": "collector/builder-config.yaml",
    "obs_mcp/stack/data/collector/scrape.yaml": "collector/scrape.yaml",
}


def _uv() -> str:
    found = Path(sys.executable).parent / "uv"
    return str(found) if found.is_file() else (shutil.which("uv") or "uv")


def _run(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv outside the repo holding the built wheel and the lock's pinned deps."""
    install_all(lambda _line: None)  # the stack's binaries come from the shared cache
    tmp = tmp_path_factory.mktemp("wheel")
    _run([_uv(), "build", "--out-dir", str(tmp / "dist")], cwd=ROOT)  # sdist, then wheel from it
    (wheel,) = (tmp / "dist").glob("obs_mcp-*.whl")
    listing = _run([sys.executable, "-m", "zipfile", "-l", str(wheel)]).stdout
    for inside in PACKAGE_DATA:
        assert inside in listing, f"the wheel lacks {inside}"
    assert "demo_service/" not in listing and "loadgen/" not in listing
    pins = tmp / "pins.txt"
    exported = _run(
        [_uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"], cwd=ROOT
    )
    pins.write_text(exported.stdout)
    _run([_uv(), "venv", "--python", sys.executable, str(tmp / "venv")])
    python = tmp / "venv" / "bin" / "python"
    _run([_uv(), "pip", "install", "--python", str(python), "-c", str(pins), str(wheel)])
    yield tmp


def _env(tmp: Path, ports: StackPorts) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBS_MCP_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{tmp / 'venv' / 'bin'}:/usr/bin:/bin"
    env["OBS_MCP_STATE_DIR"] = str(tmp / "state")
    for name, port in asdict(ports).items():
        env[f"OBS_MCP_PORT_{name.upper()}"] = str(port)
    return env


async def _tools_and_one_call(server: StdioServerParameters) -> tuple[set[str], bool]:
    async with Client(server) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        answer = await client.call_tool("list_services", {"since": "5m"})
    return tools, answer.is_error


def test_installed_wheel_runs_the_stack_a_tool_and_a_client_outside_the_repo(
    installed: Path,
) -> None:
    tmp, ports = installed, StackPorts.free()
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = _env(tmp, ports)
    obs = str(tmp / "venv" / "bin" / "obs-mcp")
    python = str(tmp / "venv" / "bin" / "python")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [obs, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180
        )

    where = cli("stack", "env")
    located = _run(
        [python, "-c", "from obs_mcp.stack import versions as v; print(v.collector_config_path())"],
        cwd=elsewhere,
        env=env,
    )
    assert located.stdout.strip().startswith(str(tmp / "venv")), located.stdout
    for inside, source in PACKAGE_DATA.items():
        copy = tmp / "venv" / "lib"
        (found,) = copy.glob(f"python3*/site-packages/{inside}")
        assert found.read_text() == (ROOT / source).read_text(), f"{inside} is not {source}"
    try:
        up = cli("stack", "up")
        assert up.returncode == 0, up.stderr
        for line in where.stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        empty = cli("services", "--json")  # a fresh stack: nothing yet, and it says so
        assert (empty.returncode, empty.stderr.strip()) == (1, "exit 1: nothing matched"), empty
        assert json.loads(empty.stdout)["services"] == []
        service = f"wheel-{os.getpid()}"
        now = time.time_ns()
        span = SpanSpec(service, "GET /", new_id(16), now - 1_000_000, now, SERVER)
        send_spans(f"http://127.0.0.1:{ports.otlp_http}", [span])
        wait_for_count(f"http://127.0.0.1:{ports.victoriatraces}",
                       f'"resource_attr:service.name":="{service}"', 1)  # fmt: skip
        services = cli("services", "--json")
        assert services.returncode == 0, services.stderr
        assert service in services.stdout
        health = cli("health", "--json")
        assert health.returncode == 0, health.stderr
        assert "make " not in health.stdout and "uv run" not in health.stdout

        installed_entry = cli("install", "claude-code")
        assert installed_entry.returncode == 0, installed_entry.stderr
        entry = json.loads((elsewhere / ".mcp.json").read_text())["mcpServers"]["obs"]
        assert entry["command"] == python, "install must register the installed interpreter"
        server = StdioServerParameters(
            command=entry["command"], args=entry["args"], env={**env, **entry["env"]}
        )
        tools, failed = asyncio.run(_tools_and_one_call(server))
        assert {"list_services", "stack_health"} <= tools
        assert not failed, "list_services through the registered server failed"

        demo = cli("demo", "run")
        assert demo.returncode == 1
        assert "checkout of the obs-mcp repository" in demo.stderr
        assert "Traceback" not in demo.stderr
    finally:
        down = cli("stack", "down", "--wipe", "--grace", "3")
    assert down.returncode == 0, down.stderr
    stops = [line for line in down.stderr.splitlines() if not line.startswith("wiped ")]
    assert stops and all(line.endswith(": stopped") for line in stops), down.stderr


async def _tool_names(server: StdioServerParameters) -> set[str]:
    async with Client(server) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


def test_uv_tool_install_serves_and_registers_the_installed_tool(installed: Path) -> None:
    """`uv tool install <wheel>`, as a user installs a Python MCP server: its `obs-mcp serve`
    answers tools/list, and `install` registers the tool's own interpreter (not a checkout's)."""
    tmp = installed
    (wheel,) = (tmp / "dist").glob("obs_mcp-*.whl")
    tools, bin_dir = tmp / "uv-tools", tmp / "uv-tool-bin"
    env = _env(tmp, StackPorts.free())
    env.update(
        UV_TOOL_DIR=str(tools), UV_TOOL_BIN_DIR=str(bin_dir), PATH=f"{bin_dir}:/usr/bin:/bin"
    )
    _run([_uv(), "tool", "install", "--python", sys.executable, "-c", str(tmp / "pins.txt"),
          str(wheel)], env=env)  # fmt: skip
    obs = bin_dir / "obs-mcp"
    assert obs.is_file(), f"uv tool install put no obs-mcp in {bin_dir}"
    project = tmp / "tool-project"
    project.mkdir()
    _run([str(obs), "install", "claude-code"], cwd=project, env=env)
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["obs"]
    assert Path(entry["command"]).is_relative_to(tools), entry  # the tool's venv
    assert entry["args"] == ["-m", "obs_mcp"], entry
    for server in (
        StdioServerParameters(command=str(obs), args=["serve"], env=env, cwd=project),
        StdioServerParameters(command=entry["command"], args=entry["args"], env=env),
    ):
        assert {"list_services", "error_rate", "stack_health"} <= asyncio.run(_tool_names(server))
