"""Every query command's exit code: 0 ok, 1 a problem found (broken pipeline, no data where
data was asked for, a store error), 2 a usage error (bad arguments, bad values)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from tests.known_telemetry import OBS_MCP, Small, process_env

pytestmark = pytest.mark.stack


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OBS_MCP, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(native_stack: Stack) -> dict[str, str]:
    return process_env(native_stack)


def test_ok_answers_exit_0(env: dict[str, str], small: Small) -> None:
    for args in (
        ["errors", small.service, "--since", "1h"],
        ["health", small.service],
        ["traces", small.service, "--since", "1h"],
        ["top-errors", small.service, "--since", "1h"],
        ["services", "--json"],
    ):
        res = run(env, *args)
        assert res.returncode == 0, (args, res.stdout[-500:], res.stderr[-500:])


def test_no_data_exits_1_with_the_reason(env: dict[str, str], small: Small) -> None:
    res = run(env, "errors", small.service + "x", "--since", "1h")
    assert res.returncode == 1, res.stderr
    assert (
        "no requests" in res.stderr and f"Did you mean: {small.service}" in res.stdout + res.stderr
    )
    res = run(env, "correlate", uuid.uuid4().hex, "--since", "1h")
    assert res.returncode == 1 and "no spans or logs" in res.stderr, res.stderr
    res = run(env, "top-errors", small.service, "--since", "1h", "--json")
    assert res.returncode == 0  # "no errors" would be good news, not a problem: small has 3


def test_broken_pipeline_exits_1(env: dict[str, str], small: Small) -> None:
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    res = run({**env, "VL_URL": dead}, "health", small.service)
    assert res.returncode == 1, (res.stdout, res.stderr)
    res = run({**env, "VT_URL": dead}, "errors", small.service)
    assert res.returncode == 1 and "VictoriaTraces" in res.stderr and dead in res.stderr


def test_usage_errors_exit_2(env: dict[str, str]) -> None:
    assert run(env, "errors").returncode == 2  # missing argument (argparse)
    res = run(env, "errors", "shop", "--since", "5 parsecs")
    assert res.returncode == 2 and "since" in res.stderr
    res = run(env, "correlate", "not-a-trace-id")
    assert res.returncode == 2 and "32 hex" in res.stderr
    assert run(env, "no-such-command").returncode == 2
