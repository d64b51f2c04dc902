"""The demo loop on the isolated stack: the tools' figures equal the workload's ground truth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from demo_service import runner as demo
from loadgen.workload import WorkloadSummary, run_workload
from mcp import Client

from obs_mcp.server import mcp
from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from tests.answers import full_answer

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture
def store_env(native_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in native_stack.settings.store_env().items():
        monkeypatch.setenv(key, value)
    yield


def _window(summary: WorkloadSummary) -> dict[str, str]:
    start = datetime.fromisoformat(summary.started_at.replace("Z", "+00:00"))
    end = datetime.fromisoformat(summary.finished_at.replace("Z", "+00:00"))
    return {
        "start": (start - timedelta(seconds=1)).isoformat(),
        "end": (end + timedelta(seconds=2)).isoformat(),
    }


async def _call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content
    return full_answer(name, result.structured_content)


@asynccontextmanager
async def _run(
    stack: Stack, state_dir: Path, fix_bug: bool, seed: int
) -> AsyncIterator[WorkloadSummary]:
    """A workload against freshly started services, which keep running (and exporting)
    until the caller has measured: stopping them first could race their final flush."""
    procs = demo.start_demo(
        state_dir,
        stack.settings.otlp_http_url,
        shop_port=free_port(),
        payments_port=free_port(),
        fix_bug=fix_bug,
    )
    try:
        yield await run_workload(procs.shop_url, requests=150, concurrency=6, seed=seed)
    finally:
        demo.stop_demo(state_dir, timeout=15)


async def _settled_rate(client: Client, summary: WorkloadSummary) -> dict[str, Any]:
    """error_rate once every request's server span has landed (telemetry is asynchronous)."""
    args = {"service": "shop", **_window(summary)}
    last: dict[str, Any] = {}
    for _ in range(120):
        last = await _call(client, "error_rate", args)
        if last["total"] >= summary.total_requests:
            return last
        await anyio.sleep(0.25)
    return last


async def test_demo_loop_matches_ground_truth_and_fix_drops_errors_to_zero(
    native_stack: Stack, store_env: None, tmp_path: Path
) -> None:
    async with (
        Client(mcp) as client,
        _run(native_stack, tmp_path / "demo-before", fix_bug=False, seed=11) as before,
    ):
        assert before.errors > 0, "the seeded workload must hit the bug"
        rate = await _settled_rate(client, before)
        assert rate["total"] == before.total_requests
        assert rate["errors"] == before.errors
        assert rate["error_rate"] == pytest.approx(before.error_rate, abs=1e-6)
        checkout = next(o for o in rate["operations"] if o["operation"] == "POST /api/checkout")
        assert checkout["errors"] == before.endpoints["POST /api/checkout"].errors
        assert rate["operations"][0]["operation"] == "POST /api/checkout"

        found = await _call(
            client,
            "search_traces",
            {"service": "payments", "errors_only": True, "limit": 200, **_window(before)},
        )
        assert found["returned"] == before.errors
        trace = await _call(client, "correlate_trace", {"trace_id": found["traces"][0]["trace_id"]})
        raised = [
            s
            for s in trace["spans"]
            if s["service"] == "payments" and s["status"] == "error" and s["kind"] == "server"
        ]
        assert raised, trace["spans"]
        assert raised[0]["attributes"]["exception.type"] == "KeyError"
        logs_by_service = {
            log["service"]
            for span in trace["spans"]
            for log in span["logs"]
            if log["severity"] == "ERROR"
        }
        assert {"shop", "payments"} <= logs_by_service

    async with (
        Client(mcp) as client,
        _run(native_stack, tmp_path / "demo-after", fix_bug=True, seed=11) as after,
    ):
        assert after.errors == 0
        rate_after = await _settled_rate(client, after)
        assert rate_after["total"] == after.total_requests
        assert rate_after["errors"] == 0
        assert rate_after["error_rate"] == 0.0
