"""Shared fixtures: one isolated native stack per test session (free ports, temp state dir),
the pinned client CLIs; and an environment that points nowhere until a test says where."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from obs_mcp.stack.install import install_all
from obs_mcp.stack.runner import Stack, StackPorts, StackSettings
from obs_mcp.stack.specs import traces_mode
from tests import clients
from tests.agent_clis import agent_env_vars
from tests.isolation import DEAD_URL, isolate_environment
from tests.known_telemetry import Shop, Small, emit_shop, emit_small, wait_for_shop, wait_for_small
from tests.picture_telemetry import Trend, emit_trend

_DROPPED: dict[str, str] = {}
_NO_STACK = Path(tempfile.mkdtemp(prefix="obs-mcp-test-no-stack-"))


def pytest_configure(config: pytest.Config) -> None:
    """Before collection: no shell setting and no default-port stack can reach a test."""
    _DROPPED.update(isolate_environment(_NO_STACK))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_NO_STACK, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    dropped = ", ".join(sorted(_DROPPED)) or "none set"
    return f"obs-mcp: store URLs -> {DEAD_URL} unless a test names its stack; dropped: {dropped}"


def _report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def native_stack() -> Iterator[Stack]:
    """A real stack on free loopback ports with its own data: never touches a user's stack."""
    install_all(_report)
    state_dir = Path(tempfile.mkdtemp(prefix="obs-mcp-test-stack-"))
    stack = Stack(StackSettings(state_dir=state_dir, ports=StackPorts.free(), die_with_parent=True))
    try:
        stack.up(report=_report, install=False)
        yield stack
    finally:
        stack.down(wipe=True, grace_seconds=5)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def tools_on_stack(native_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server reads the store URLs at lifespan start: point it at the test stack."""
    for key, value in native_stack.settings.store_env().items():
        monkeypatch.setenv(key, value)


# Known telemetry, emitted once per test module that asks for it (unique service names, so
# modules never see each other's figures).
@pytest.fixture(scope="module")
def shop(native_stack: Stack) -> Iterator[Shop]:
    s = native_stack.settings
    known, front, back = emit_shop(s.otlp_http_url)
    try:
        wait_for_shop(known, s.vl_url, s.vt_url, s.vm_url)
        yield known
    finally:
        front.shutdown()
        back.shutdown()


@pytest.fixture(scope="module")
def small(native_stack: Stack) -> Small:
    """10 server spans, 3 of them errors, for transport-level checks of real figures."""
    s = native_stack.settings
    known = emit_small(s.otlp_http_url, total=10, errors=3, prefix="small")
    wait_for_small(known, s.vt_url, s.vl_url)
    return known


@pytest.fixture(scope="module")
def trend(native_stack: Stack) -> Trend:
    """A before/after pair with known per-bucket figures (tests/picture_telemetry.py)."""
    s = native_stack.settings
    return emit_trend(s.otlp_http_url, s.vt_url, s.vl_url)


@pytest.fixture(scope="session")
def client_bin() -> Path:
    """node_modules/.bin of the pinned client CLIs (tests/clients), installed once per lock."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm (Node.js) is not installed: the real-client tests need it")
    return clients.bin_dir(npm)


@pytest.fixture
def agent_env(client_bin: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project dir and the env for the pinned CLIs, with every home in tmp_path."""
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "home").mkdir()
    return project, agent_env_vars(client_bin, tmp_path / "home", tmp_path / "xdg")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip, with the reason, tests that only make sense with the other kind of VictoriaTraces."""
    mode = traces_mode()
    if mode == "victoriatraces" and item.get_closest_marker("vtcompat"):
        pytest.skip("checks vt-compat, but a real VictoriaTraces binary is in use")
    if mode == "vt-compat" and item.get_closest_marker("realvt"):
        pytest.skip("needs a real VictoriaTraces binary (set OBS_MCP_VICTORIATRACES_BIN)")


@pytest.fixture(scope="session")
def compose_go_loader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build tests/compose_check (compose-go, the loader inside `docker compose`)."""
    out = tmp_path_factory.mktemp("composecheck") / "composecheck"
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
    subprocess.run(
        ["go", "build", "-o", str(out), "."],
        cwd=Path(__file__).parent / "compose_check",
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out
