"""The demo loop on the isolated stack: the tools' figures equal the workload's ground truth.

Both bugs, each removed by its patch applied to a scratch copy (as `obs-mcp demo run` does):
the error figures are exact against what the client saw; the latency figures against what
the load generator sent (cart lines -> catalog queries) and against the latency the shop's
code is built to take (its sleeps: a lower bound no scheduling can undercut).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from demo_service import runner as demo
from demo_service import scratch
from demo_service.catalog import PRODUCTS, QUERY_SPAN, ROUND_TRIP_S
from demo_service.payments import fraud_check_seconds, settle_seconds
from demo_service.pricing import compute_charge
from demo_service.shop import CheckoutRejectedError, build_order, parse_checkout, reserve_seconds
from loadgen.plan import CHECKOUT_ENDPOINT, PlannedRequest, build_plan
from loadgen.workload import WorkloadSummary, run_workload
from mcp import Client

from obs_mcp.core.backends import open_backends
from obs_mcp.core.fields import SERVICE
from obs_mcp.core.repeats import REPEAT_MIN, repeated_calls
from obs_mcp.queries import logsql_exact
from obs_mcp.server import mcp
from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import Window
from tests.answers import full_answer, text_of

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
    stack: Stack,
    state_dir: Path,
    source: Path,
    seed: int,
    requests: int = 150,
    concurrency: int = 6,
) -> AsyncIterator[WorkloadSummary]:
    """A workload against services freshly started from `source`, which keep running (and
    exporting) until the caller has measured."""
    procs = demo.start_demo(
        state_dir,
        stack.settings.otlp_http_url,
        shop_port=free_port(),
        payments_port=free_port(),
        source_root=source,
        timeout=60,
    )
    try:
        yield await run_workload(procs.shop_url, requests, concurrency, seed)
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
        _run(
            native_stack, tmp_path / "before", scratch.fixed_copy(tmp_path / "src0", ()), 11
        ) as before,
    ):
        assert before.errors > 0, "the seeded workload must hit the bug"
        rate = await _settled_rate(client, before)
        assert rate["total"] == before.total_requests
        assert rate["errors"] == before.errors
        assert rate["error_rate"] == pytest.approx(before.error_rate, abs=1e-6)
        checkout = next(o for o in rate["operations"] if o["operation"] == "POST /api/checkout")
        assert checkout["errors"] == before.endpoints["POST /api/checkout"].errors
        assert rate["operations"][0]["operation"] == "POST /api/checkout"

        args = {"service": "payments", "errors_only": True, "limit": 200, **_window(before)}
        for _ in range(120):  # payments exports on its own schedule: wait for its spans too
            found = await _call(client, "search_traces", args)
            if found["returned"] >= before.errors:
                break
            await anyio.sleep(0.25)
        assert found["returned"] == before.errors
        trace_id = found["traces"][0]["trace_id"]
        for _ in range(120):  # the newest failure's log lines export on their own schedule too
            trace = await _call(client, "correlate_trace", {"trace_id": trace_id})
            logs_by_service = {
                log["service"]
                for span in trace["spans"]
                for log in span["logs"]
                if log["severity"] == "ERROR"
            }
            if {"shop", "payments"} <= logs_by_service:
                break
            await anyio.sleep(0.25)
        raised = [
            s
            for s in trace["spans"]
            if s["service"] == "payments" and s["status"] == "error" and s["kind"] == "server"
        ]
        assert raised, trace["spans"]
        assert raised[0]["attributes"]["exception.type"] == "KeyError"
        assert {"shop", "payments"} <= logs_by_service

    fixed = scratch.fixed_copy(tmp_path / "src1", (scratch.CURRENCY_FIX,))
    async with Client(mcp) as client, _run(native_stack, tmp_path / "after", fixed, 11) as after:
        assert after.errors == 0
        rate_after = await _settled_rate(client, after)
        assert rate_after["total"] == after.total_requests
        assert rate_after["errors"] == 0
        assert rate_after["error_rate"] == 0.0


# --- the latency bug: one catalog query per cart line ----------------------------------------


def _designed_ms(request: PlannedRequest, queries: int) -> float:
    """What the shop's code sleeps for this checkout (currency bug fixed): a lower bound of
    its server span, whatever the machine's load."""
    assert request.body is not None
    seconds = queries * ROUND_TRIP_S
    try:
        order = build_order(parse_checkout(request.body), PRODUCTS)
    except CheckoutRejectedError:
        return seconds * 1000
    lines = len(order.items)
    total = compute_charge(order.items, order.coupon, order.currency.upper()).total_usd
    seconds += reserve_seconds(lines) + settle_seconds(lines) + fraud_check_seconds(total)
    return seconds * 1000


def _p95(values: list[float]) -> float:
    """Nearest rank, as the tools compute it."""
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


Repeat = tuple[str, str, int, int, int, int]  # operation, call, parents, calls, min, max


async def _store_view(summary: WorkloadSummary, queries: int) -> tuple[Counter[int], list[Repeat]]:
    """From the span store, over the run's window, once its `queries` catalog query spans
    have landed: how many requests made how many queries, and the N+1 view's rows."""
    window = Window(
        datetime.fromisoformat(summary.started_at.replace("Z", "+00:00")),
        datetime.fromisoformat(summary.finished_at.replace("Z", "+00:00")) + timedelta(seconds=1),
    )
    query = (
        f"{logsql_exact(SERVICE, 'shop')} {logsql_exact('name', QUERY_SPAN)} "
        "| stats by (parent_span_id) count() n"
    )
    async with open_backends() as backends:
        rows: list[dict[str, str]] = []
        for _ in range(120):  # telemetry lands asynchronously: wait for all the spans
            rows = await backends.traces.query(query, window)
            if sum(int(row["n"]) for row in rows) >= queries:
                break
            await anyio.sleep(0.25)
        repeats = await repeated_calls(backends, "shop", window)
    rows_of_query = [
        (r.operation, r.call, r.parents, r.calls, r.calls_min, r.calls_max)
        for r in repeats
        if r.call == QUERY_SPAN
    ]
    return Counter(int(row["n"]) for row in rows), rows_of_query


async def test_n_plus_one_fix_cuts_checkout_p95_and_queries_to_one(
    native_stack: Stack, store_env: None, tmp_path: Path
) -> None:
    seed, requests = 11, 300
    plan = build_plan(requests, seed)
    checkouts = [r for r in plan if r.endpoint == CHECKOUT_ENDPOINT and r.body]
    lines = [len(r.body["items"]) for r in checkouts if r.body]
    slow_model = _p95([_designed_ms(r, n) for r, n in zip(checkouts, lines, strict=True)])
    fast_model = _p95([_designed_ms(r, 1) for r in checkouts])
    margin = slow_model - fast_model
    assert margin >= 3 * ROUND_TRIP_S * 1000, "the seeded plan must put big carts in the tail"

    slow_src = scratch.fixed_copy(tmp_path / "src1", (scratch.CURRENCY_FIX,))
    fast_src = scratch.fixed_copy(tmp_path / "src2", scratch.FIXES)
    async with Client(mcp) as client:
        async with _run(native_stack, tmp_path / "slow", slow_src, seed, requests, 3) as slow:
            assert (await _settled_rate(client, slow))["total"] == requests
            assert slow.errors == 0
            per_request, repeats = await _store_view(slow, sum(lines) + requests - len(checkouts))
        async with _run(native_stack, tmp_path / "fast", fast_src, seed, requests, 3) as fast:
            assert (await _settled_rate(client, fast))["total"] == requests
            assert fast.errors == 0
            per_request_fast, repeats_fast = await _store_view(fast, requests)
        compared = await client.call_tool(
            "compare_runs",
            {"service": "shop", "baseline_run": slow.run_id, "current_run": fast.run_id,
             "operation": CHECKOUT_ENDPOINT},
        )  # fmt: skip
        verdict = full_answer("compare_runs", compared.structured_content)
        # Issue 13's done-when, the agent's path: compare_runs named the span; then one of the
        # buggy run's slowest checkouts; its tree names the repeated span and the calling line.
        found = await client.call_tool(
            "search_traces",
            {"service": "shop", "operation": CHECKOUT_ENDPOINT, "tags": {"run.id": slow.run_id},
             "min_duration": f"{math.floor(verdict['baseline']['p95_ms'])}ms", "limit": 3},
        )  # fmt: skip
        traces = full_answer("search_traces", found.structured_content)["traces"]
        assert traces, text_of(found)
        tree = await client.call_tool(
            "correlate_trace", {"trace_id": traces[0]["trace_id"], "max_logs": 5}
        )
        assert not tree.is_error, text_of(tree)

    # Exact, per request, against what was sent: one query per cart line, then one in all.
    others = requests - len(checkouts)
    assert per_request == Counter(lines) + Counter({1: others})
    assert per_request_fast == Counter({1: requests})
    assert slow.cart_lines == {str(n): c for n, c in sorted(Counter(lines).items())}
    # The N+1 view (every span of the window, no sample) names the operation, exactly.
    big = [n for n in lines if n >= REPEAT_MIN]
    assert repeats == [(CHECKOUT_ENDPOINT, QUERY_SPAN, len(big), sum(big), min(big), max(big))]
    assert repeats_fast == []

    # compare_runs names the span: its calls per request fall to exactly 1. The baseline
    # figure is the mean over the sampled requests, so it lies between the means of the
    # smallest and of the largest carts of that many checkouts.
    change = next(c for c in verdict["span_changes"] if c["operation"] == QUERY_SPAN)
    assert change["service"] == "shop"
    before, after = change["calls_per_request"]
    assert after == 1.0
    sampled = int(verdict["span_changes_basis"].split()[1])
    assert 0 < sampled <= len(checkouts)
    ordered = sorted(lines)
    low, high = sum(ordered[:sampled]) / sampled, sum(ordered[-sampled:]) / sampled
    assert round(low, 2) <= before <= round(high, 2)
    assert f"{QUERY_SPAN}: {before:g} -> 1 calls per request" in change["summary"]

    # ... in 3 calls and at most 4k tokens of answers (chars / 4, as docs/BENCHMARKS.md counts)
    sizes = [len(text_of(answer)) for answer in (compared, found, tree)]
    print(f"\nlatency loop: compare_runs {sizes[0]}, search_traces {sizes[1]}, "
          f"correlate_trace {sizes[2]} chars = ~{sum(sizes) // 4} tokens")  # fmt: skip
    assert sum(sizes) // 4 <= 4000, sizes
    spans = full_answer("correlate_trace", tree.structured_content)["spans"]
    rows = [row for row in spans if row["operation"] == QUERY_SPAN]
    query = max(rows, key=lambda row: row["repeat"]["count"] if row["repeat"] else 1)
    calls = query["repeat"]["count"] if query["repeat"] else len(rows)
    assert calls >= REPEAT_MIN, query  # one of the slowest checkouts is a big cart
    shop_py = (slow_src / "demo_service" / "shop.py").read_text().splitlines()
    calling = next(
        n for n, text in enumerate(shop_py, 1) if "await fetch_products([item.product_id])" in text
    )
    assert query["attributes"]["code.file.path"] == "demo_service/shop.py", query
    assert query["attributes"]["code.line.number"] == str(calling), query
    assert query["attributes"]["code.function.name"] == "checkout", query

    # p95 of checkout: the slow run cannot beat its designed latency; the fast one must come
    # in below it by at least half the designed margin (the other half absorbs overhead).
    base, cur = verdict["baseline"], verdict["current"]
    assert base["requests"] == cur["requests"] == len(checkouts)
    assert base["p95_ms"] >= slow_model
    assert cur["p95_ms"] <= base["p95_ms"] - margin / 2, (base["p95_ms"], cur["p95_ms"], margin)
    assert verdict["verdict"] == "improved", verdict["reasons"]
    assert any("significant speed-up" in reason for reason in verdict["reasons"])
