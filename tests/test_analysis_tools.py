"""Contract tests of compare_runs, top_errors, service_overview and stack_health on the real
stack with exactly known telemetry (tests/analysis_telemetry.py, tests/known_telemetry.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent, TextResourceContents

from obs_mcp.cli import main as cli_main
from obs_mcp.server import mcp
from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import from_unix_nanos, rfc3339
from tests.analysis_telemetry import (
    GET,
    PAY_OP,
    PAY_TEMPLATE,
    POST,
    REFUND_OP,
    SYNC_OP,
    Pair,
    Signatures,
    emit_pair,
    emit_signatures,
)
from tests.answers import ok
from tests.known_telemetry import Shop

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]
S = 1_000_000_000


@pytest.fixture(scope="module")
def pair(native_stack: Stack) -> Pair:
    s = native_stack.settings
    return emit_pair(s.otlp_http_url, s.vt_url, "cmp", (200, 200), (37, 0))


@pytest.fixture(scope="module")
def tiny(native_stack: Stack) -> Pair:
    s = native_stack.settings
    return emit_pair(s.otlp_http_url, s.vt_url, "tiny", (10, 10), (3, 0))


@pytest.fixture(scope="module")
def sig(native_stack: Stack) -> Signatures:
    s = native_stack.settings
    return emit_signatures(s.otlp_http_url, s.vt_url, s.vl_url)


def at(ns: int) -> str:
    return rfc3339(from_unix_nanos(ns))


def z_of(e1: int, n1: int, e2: int, n2: int) -> float:
    p = (e1 + e2) / (n1 + n2)
    return round((e2 / n2 - e1 / n1) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)), 3)


# ---- compare_runs ------------------------------------------------------------------------------
GONE = f"{POST} | ValueError: card <num> declined for order <hex>"


def _assert_improved(r: dict[str, Any]) -> None:
    assert r["verdict"] == "improved", r["reasons"]
    b, c = r["baseline"], r["current"]
    assert (b["requests"], b["errors"], b["error_rate"]) == (200, 37, 0.185)
    assert (c["requests"], c["errors"], c["error_rate"]) == (200, 0, 0.0)
    assert (b["p50_ms"], b["p95_ms"], b["p99_ms"]) == pytest.approx((10, 100, 100), rel=0.01)
    assert (c["p50_ms"], c["p95_ms"], c["p99_ms"]) == pytest.approx((10, 20, 20), rel=0.01)
    assert r["error_rate_change"] == -0.185
    assert r["error_rate_z"] == z_of(37, 200, 0, 200) and r["error_rate_z"] < -6
    assert r["p95_change_pct"] == pytest.approx(-80.0, abs=1)
    assert "significant drop" in r["reasons"][0] and "18.5% -> 0.0%" in r["reasons"][0]
    assert "significant speed-up" in r["reasons"][1]
    ops = {o["operation"]: o for o in r["operations"]}
    assert set(ops) == {GET, POST}
    assert (ops[POST]["baseline"]["requests"], ops[POST]["baseline"]["errors"]) == (80, 37)
    assert (ops[POST]["current"]["requests"], ops[POST]["current"]["errors"]) == (80, 0)
    assert (ops[GET]["baseline"]["requests"], ops[GET]["current"]["requests"]) == (120, 120)
    assert r["gone_errors"] == [{"signature": GONE, "baseline": 37, "current": 0}]
    assert r["new_errors"] == [] and r["changed_errors"] == []
    assert "|z| >= 2" in r["thresholds"] and r["hint"] is None


async def test_compare_runs_by_time_windows(pair: Pair) -> None:
    b0, c0 = pair.baseline.start_ns - S, pair.baseline.start_ns + 150 * S
    c1 = pair.baseline.start_ns + 350 * S
    r = await ok("compare_runs", {"service": pair.service, "baseline_start": at(b0),
                                  "baseline_end": at(c0), "current_end": at(c1)})  # fmt: skip
    _assert_improved(r)
    assert r["baseline"]["per_s"] == round(200 / 151, 4)
    assert r["current"]["per_s"] == round(200 / 200, 4)


async def test_compare_runs_by_run_id(pair: Pair) -> None:
    r = await ok("compare_runs", {"service": pair.service, "baseline_run": pair.baseline.run,
                                  "current_run": pair.current.run})  # fmt: skip
    _assert_improved(r)
    for side, key in ((pair.baseline, "baseline"), (pair.current, "current")):
        assert r[key]["per_s"] == round(200 / ((side.end_ns - side.start_ns) / S), 4)
    assert f"run.id={pair.current.run}" in r["current_window"]


async def test_compare_runs_too_few_samples(tiny: Pair) -> None:
    r = await ok("compare_runs", {"service": tiny.service, "baseline_run": tiny.baseline.run,
                                  "current_run": tiny.current.run})  # fmt: skip
    assert r["verdict"] == "insufficient_data"
    assert (r["baseline"]["requests"], r["baseline"]["errors"]) == (10, 3)
    assert (r["current"]["requests"], r["current"]["errors"]) == (10, 0)
    assert r["reasons"][0].startswith("too few samples: 10 baseline and 10 current")


async def test_compare_runs_needs_a_baseline() -> None:
    async with Client(mcp) as client:
        result = await client.call_tool("compare_runs", {"service": "x", "baseline_start": "1h"})
    assert result.is_error
    assert "baseline_end" in "".join(b.text for b in result.content if isinstance(b, TextContent))


# ---- top_errors --------------------------------------------------------------------------------
async def test_top_errors_groups_signatures(sig: Signatures) -> None:
    r = await ok("top_errors", {"service": sig.service, "since": "15m"})
    assert (r["error_spans"], r["error_spans_capped"], r["truncated"]) == (34, False, False)
    shape = [(s["operation"], s["exception_type"], s["message"], s["count"])
             for s in r["signatures"]]  # fmt: skip
    assert shape == [
        (PAY_OP, "RuntimeError", PAY_TEMPLATE, 25),
        (REFUND_OP, "KeyError", "<str>", 5),
        (SYNC_OP, None, "ledger timeout after <num> ms", 4),
    ]
    pay, refund, sync = r["signatures"]
    assert pay["code_location"].endswith(" in _raise_payment_error")
    assert "analysis_telemetry.py:" in pay["code_location"]
    assert pay["sample_log"] == sig.log_by_trace[pay["sample_trace_id"]]
    assert pay["first_seen"] < pay["last_seen"]
    assert refund["code_location"] == "/app/billing.py:42 in refund"
    assert sync["code_location"] is None and sync["sample_log"] is None
    assert all(s["service"] == sig.service for s in r["signatures"])


async def test_top_errors_limit_and_empty(sig: Signatures) -> None:
    r = await ok("top_errors", {"service": sig.service, "since": "15m", "limit": 1})
    assert (r["returned"], r["truncated"]) == (1, True)
    assert "3 signatures" in r["hint"]
    empty = await ok("top_errors", {"service": f"{sig.service}-none"})
    assert empty["signatures"] == [] and "No error spans" in empty["hint"]


# ---- service_overview --------------------------------------------------------------------------
async def test_service_overview_front_and_back(shop: Shop) -> None:
    front = await ok("service_overview", {"service": shop.front})
    assert (front["red"]["requests"], front["red"]["errors"]) == (200, 37)
    ops = {o["operation"]: o for o in front["operations"]}
    assert (ops["POST /api/order"]["requests"], ops["POST /api/order"]["errors"]) == (80, 37)
    assert front["downstream"] == [{"service": shop.back, "calls": 37, "errors": 37}]
    assert front["upstream"] == []
    assert front["metric_names"] == ["orders_processed_total"]
    # the incident starts in back (the exception); front's error only propagates it
    top = front["top_errors"][0]
    assert (top["service"], top["exception_type"], top["count"]) == (shop.back, "ValueError", 37)
    assert top["seen_upstream_as"] == [
        {"service": shop.front, "operation": "POST /api/order", "exception_type": None,
         "message": "payment failed", "count": 37}
    ]  # fmt: skip
    assert len(front["top_errors"]) == 1
    assert len(front["error_logs"]) == 5
    assert all(lg["severity"] == "ERROR" for lg in front["error_logs"])
    back = await ok("service_overview", {"service": shop.back})
    assert back["upstream"] == [{"service": shop.front, "calls": 37, "errors": 37}]
    assert back["downstream"] == []
    assert back["top_errors"][0]["exception_type"] == "ValueError"
    assert back["top_errors"][0]["message"] == "card <num> declined"


# ---- stack_health ------------------------------------------------------------------------------
async def test_stack_health_all_up(shop: Shop) -> None:
    r = await ok("stack_health", {"service": shop.front})
    assert r["ok"] is True and r["service_found"] is True, r["hints"]
    assert r["collector"]["up"] is True and r["collector"]["accepted"]["traces"] > 0
    assert r["collector"]["refused"].get("traces", 0) == 0
    assert [s["store"] for s in r["stores"]] == [
        "VictoriaTraces",
        "VictoriaMetrics",
        "VictoriaLogs",
    ]
    assert all(s["up"] and s["newest"] and s["newest_for_service"] for s in r["stores"])


async def test_stack_health_suggests_close_name(shop: Shop) -> None:
    r = await ok("stack_health", {"service": shop.front[:-1]})
    assert r["ok"] is False and r["service_found"] is False
    assert any("did you mean" in h and shop.front in h for h in r["hints"]), r["hints"]


# ---- tools/list, resources, prompt, CLI ----------------------------------------------------------
async def test_tools_list_budget_resources_prompt() -> None:
    async with Client(mcp) as client:
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        sheet = await client.read_resource("obs://cheatsheet/logsql")
        prompt = await client.get_prompt("investigate", {"service": "shop"})
    names = {t.name for t in tools}
    assert {"compare_runs", "top_errors", "service_overview", "stack_health"} <= names
    assert {"list_fields", "wait_for_data"} <= names
    assert len(tools) == 13
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    chars = len(json.dumps([t.model_dump(by_alias=True, exclude_none=True, mode="json")
                            for t in tools]))  # fmt: skip
    print(f"\ntools/list with {len(tools)} tools: {chars} chars ~ {chars // 4} tokens")
    assert chars // 4 < 4500
    assert {str(r.uri) for r in resources} == {
        "obs://cheatsheet/logsql", "obs://cheatsheet/promql", "obs://cheatsheet/fields"
    }  # fmt: skip
    content = sheet.contents[0]
    assert isinstance(content, TextResourceContents) and "stats by" in content.text
    text = prompt.messages[0].content
    assert isinstance(text, TextContent) and 'service_overview(service="shop")' in text.text


def test_cli_top_errors_json_and_overview(
    sig: Signatures, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["top-errors", sig.service, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["count"] for s in data["signatures"]] == [25, 5, 4]
    assert cli_main(["overview", sig.service]) == 0
    assert cli_main(["health"]) == 0
