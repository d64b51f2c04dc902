"""Contract tests of the six MCP tools on known telemetry: exact figures, bounds, hints, safety.

The telemetry is emitted once per module through the real collector (tests/known_telemetry.py
holds the plan and every expected figure); the tools are called in memory via `Client(mcp)`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from mcp import Client
from mcp.types import Tool

from obs_mcp.server import mcp
from obs_mcp.stack.runner import Stack
from tests.answers import answer_chars, call, full_answer, ok, text_of
from tests.known_telemetry import (
    BACK_OP,
    CLIENT_OP,
    DB_OP,
    EXCEPTION_MESSAGE,
    GET_OP,
    POST_OP,
    VALIDATE_OP,
    BigTrace,
    Shop,
    Small,
    emit_big_trace,
    emit_small,
    span_counts_by_service,
    wait_for_big_trace,
    wait_for_small,
)

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]

# The six tools of the original contract. The server may offer more (the working tree adds
# compare_runs, top_errors, service_overview, stack_health); every tool, old or new, must be
# read-only with an outputSchema, and the whole tools/list must stay within the token budget.
CONTRACT_TOOLS = {
    "list_services",
    "error_rate",
    "search_traces",
    "correlate_trace",
    "query_logs",
    "query_metrics",
}
REQUIRED_ARGS: dict[str, set[str]] = {
    "list_services": set(),
    "error_rate": {"service"},
    "search_traces": {"service"},
    "correlate_trace": {"trace_id"},
    "query_logs": set(),
    "query_metrics": {"query"},
}
TOOLS_LIST_TOKEN_BUDGET = 4500  # issue 13: every tool together <= 4.5k
ANSWER_TOKEN_BUDGET = 25_000  # Claude Code's default MAX_MCP_OUTPUT_TOKENS


def approx_tokens(chars: int) -> int:
    return chars // 4


# ---- fixtures & helpers ----------------------------------------------------------------------


def assert_hint_names_top_services(hint: str, shop: Shop, vt_url: str) -> None:
    """The hint lists the 20 services with the most spans in its window, most first, ours
    among them when they rank above the cut. Counted again over the hint's own window; a tie
    at the cut may go either way (every shop run sends the same number of spans)."""
    window = re.search(r" in (\S+Z) \.\. (\S+Z)", hint)
    assert window, hint
    counts = span_counts_by_service(vt_url, window[1], window[2])
    listed = hint.split(" then: ", 1)[-1].split(". Names are exact", 1)[
        0
    ]  # after any "Did you mean"
    names = re.sub(r" \(the \d+ busiest of \d+\)$", "", listed).split(", ")
    assert names and len(names) == min(20, len(counts)), (names, counts)
    shown = [counts.get(name, 0) for name in names]
    assert shown == sorted(shown, reverse=True) and shown[0] == max(counts.values()), (hint, counts)
    others = [n for name, n in counts.items() if name not in names]
    for service in (shop.front, shop.back):
        if service in names:
            assert counts[service] >= max(others, default=0), (service, hint, counts)
        else:
            assert counts.get(service, 0) <= min(shown), (service, hint, counts)


async def list_tool_defs() -> list[Tool]:
    async with Client(mcp) as client:
        return (await client.list_tools()).tools


def tool_defs_json(tools: list[Tool]) -> str:
    return json.dumps([t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools])


# ---- tools/list --------------------------------------------------------------------------------


async def test_tools_list_contract() -> None:
    tools = await list_tool_defs()
    names = [t.name for t in tools]
    assert len(names) == len(set(names)), names
    assert set(names) >= CONTRACT_TOOLS, names
    for tool in tools:
        assert tool.annotations is not None, tool.name
        assert tool.annotations.read_only_hint is True, tool.name
        assert tool.annotations.destructive_hint is False, tool.name
        assert tool.output_schema, f"{tool.name} has no outputSchema"
        assert tool.output_schema.get("type") == "object", tool.name
        assert tool.input_schema.get("type") == "object", tool.name
        assert tool.description and len(tool.description) > 40, tool.name
    by_name = {t.name: t for t in tools}
    for name, required in REQUIRED_ARGS.items():
        assert set(by_name[name].input_schema.get("required", [])) == required, name
    props = by_name["correlate_trace"].input_schema["properties"]
    assert props["max_spans"]["maximum"] == 5000 and props["max_spans"]["minimum"] == 1
    assert by_name["search_traces"].input_schema["properties"]["limit"]["maximum"] == 200
    assert by_name["query_logs"].input_schema["properties"]["limit"]["maximum"] == 1000


async def test_tools_list_fits_token_budget() -> None:
    tools = await list_tool_defs()
    chars = len(tool_defs_json(tools))
    print(
        f"\ntools/list: {len(tools)} tools, {chars} chars ~ {approx_tokens(chars)} tokens (chars/4)"
    )
    assert approx_tokens(chars) < TOOLS_LIST_TOKEN_BUDGET, f"{chars} chars"


# ---- error_rate ------------------------------------------------------------------------------


async def test_error_rate_exact_figures(shop: Shop) -> None:
    r = await ok("error_rate", {"service": shop.front, "since": "15m"})
    assert r["service"] == shop.front
    assert r["total"] == 200 == shop.total
    assert r["errors"] == 37 == shop.errors
    assert r["error_rate"] == 0.185 == shop.error_rate
    assert (r["p50_ms"], r["p95_ms"], r["p99_ms"]) == (shop.p50_ms, shop.p95_ms, shop.p99_ms)
    assert r["percentiles_exact"] is True
    assert "all 200 requests" in r["source"]
    assert r["hint"] is None
    ops = r["operations"]
    assert [op["operation"] for op in ops] == [POST_OP, GET_OP]  # sorted by errors
    assert r["operations_returned"] == 2 and r["operations_truncated"] is False
    post, get = ops
    assert (post["total"], post["errors"], post["error_rate"]) == (80, 37, 0.4625)
    assert (get["total"], get["errors"], get["error_rate"]) == (120, 0, 0.0)
    assert post["p50_ms"] == pytest.approx(shop.post_p50_ms, rel=0.01)
    assert post["p95_ms"] == pytest.approx(shop.post_p95_ms, rel=0.01)
    assert get["p50_ms"] == pytest.approx(shop.get_p50_ms, rel=0.01)
    assert get["p95_ms"] == pytest.approx(shop.get_p95_ms, rel=0.01)


async def test_error_rate_back_service_and_operation_filter(shop: Shop) -> None:
    post = await ok("error_rate", {"service": shop.front, "since": "15m", "operation": POST_OP})
    assert (post["total"], post["errors"], post["error_rate"]) == (80, 37, 0.4625)
    assert [op["operation"] for op in post["operations"]] == [POST_OP]
    get = await ok("error_rate", {"service": shop.front, "since": "15m", "operation": GET_OP})
    assert (get["total"], get["errors"], get["error_rate"]) == (120, 0, 0.0)
    assert [op["operation"] for op in get["operations"]] == [GET_OP]
    back = await ok("error_rate", {"service": shop.back, "since": "15m"})
    assert (back["total"], back["errors"], back["error_rate"]) == (37, 37, 1.0)
    assert [op["operation"] for op in back["operations"]] == [BACK_OP]  # CLIENT spans excluded


async def test_error_rate_empty_window_hints(shop: Shop, native_stack: Stack) -> None:
    r = await ok("error_rate", {"service": shop.front, "start": "2020-01-01T00:00:00Z",
                                "end": "2020-01-01T01:00:00Z"})  # fmt: skip
    assert (r["total"], r["errors"], r["error_rate"]) == (0, 0, 0.0)
    assert r["p50_ms"] is None and r["operations"] == []
    assert r["hint"] and shop.front in r["hint"]
    missing = await ok("error_rate", {"service": f"nope-{shop.run_id}", "since": "15m"})
    assert missing["total"] == 0 and f"nope-{shop.run_id}" in missing["hint"]
    assert_hint_names_top_services(missing["hint"], shop, native_stack.settings.vt_url)


async def test_error_rate_bad_arguments_are_actionable() -> None:
    for args, fragment in [
        ({"service": "x", "since": "10y"}, "since"),
        ({"service": "x", "since": "15m", "start": "2030-01-01T00:00:00Z"}, "before"),
        ({"service": ""}, "service"),
    ]:
        result = await call("error_rate", args)
        assert result.is_error, args
        assert fragment in text_of(result), (args, text_of(result))


# ---- search_traces ---------------------------------------------------------------------------


async def test_search_traces_errors_only_finds_every_failing_trace(shop: Shop) -> None:
    r = await ok("search_traces", {"service": shop.front, "errors_only": True, "limit": 200})
    assert r["returned"] == 37 and r["truncated"] is False and r["hint"] is None
    assert {t["trace_id"] for t in r["traces"]} == set(shop.error_trace_ids)
    for t in r["traces"]:
        assert t["error_count"] == 2  # front SERVER + back SERVER; the CLIENT span is not an error
        assert t["span_count"] == 5
        assert t["services"] == sorted([shop.front, shop.back])
        assert t["root_service"] == shop.front
        assert t["root_operation"] == POST_OP
        assert t["duration_ms"] == pytest.approx(100.0)
    starts = [t["start_time"] for t in r["traces"]]
    assert starts == sorted(starts, reverse=True)  # newest first


async def test_search_traces_filters(shop: Shop) -> None:
    get = await ok("search_traces", {"service": shop.front, "operation": GET_OP, "limit": 200})
    assert get["returned"] == 120 and get["truncated"] is False
    assert all(t["root_operation"] == GET_OP and t["error_count"] == 0 for t in get["traces"])
    slow = await ok("search_traces", {"service": shop.front, "min_duration": "50ms", "limit": 200})
    assert {t["trace_id"] for t in slow["traces"]} == set(shop.error_trace_ids)
    tagged = await ok(
        "search_traces",
        {"service": shop.back, "tags": {"http.response.status_code": "500"}, "limit": 200},
    )
    assert tagged["returned"] == 37


async def test_search_traces_limit_truncates(shop: Shop) -> None:
    r = await ok("search_traces", {"service": shop.front, "errors_only": True, "limit": 5})
    assert r["returned"] == 5 and len(r["traces"]) == 5
    assert r["truncated"] is True
    assert r["hint"] and "More than 5" in r["hint"]
    assert {t["trace_id"] for t in r["traces"]} <= set(shop.error_trace_ids)


async def test_search_traces_unknown_service_names_existing_ones(
    shop: Shop, native_stack: Stack
) -> None:
    r = await ok("search_traces", {"service": f"nope-{shop.run_id}", "errors_only": True})
    assert r["returned"] == 0 and r["traces"] == [] and r["truncated"] is False
    assert r["hint"] and f"nope-{shop.run_id}" in r["hint"]
    assert_hint_names_top_services(r["hint"], shop, native_stack.settings.vt_url)


async def test_search_traces_no_errors_hint_lists_operations(shop: Shop) -> None:
    r = await ok("search_traces", {"service": shop.front, "operation": GET_OP, "errors_only": True})
    assert r["returned"] == 0
    assert r["hint"] and POST_OP in r["hint"] and GET_OP in r["hint"]


# ---- correlate_trace -------------------------------------------------------------------------


async def test_correlate_error_trace_tree_logs_and_red(shop: Shop) -> None:
    trace_id = shop.error_trace_ids[0]
    roles = shop.roles[trace_id]
    r = await ok("correlate_trace", {"trace_id": trace_id.upper()})
    assert r["found"] is True and r["trace_id"] == trace_id
    assert (r["span_count"], r["error_count"]) == (5, 2)
    assert (r["spans_returned"], r["spans_omitted"]) == (5, 0)
    assert r["services"] == sorted([shop.front, shop.back])
    assert r["duration_ms"] == pytest.approx(100.0)
    shape = [(s["span_id"], s["depth"], s["service"], s["operation"], s["kind"], s["status"])
             for s in r["spans"]]  # fmt: skip
    assert shape == [
        (roles["root"], 0, shop.front, POST_OP, "server", "error"),
        (roles["validate"], 1, shop.front, VALIDATE_OP, "internal", "ok"),
        (roles["client"], 1, shop.front, CLIENT_OP, "client", "ok"),
        (roles["back"], 2, shop.back, BACK_OP, "server", "error"),
        (roles["db"], 3, shop.back, DB_OP, "client", "ok"),
    ]
    spans = {s["span_id"]: s for s in r["spans"]}
    root, back = spans[roles["root"]], spans[roles["back"]]
    assert root["parent_span_id"] is None
    assert back["parent_span_id"] == roles["client"]
    assert [s["start_offset_ms"] for s in r["spans"]] == pytest.approx([0, 1, 5, 10, 12])
    assert [s["duration_ms"] for s in r["spans"]] == pytest.approx([100, 3, 90, 80, 8])
    assert root["status_message"] == "payment failed"
    assert back["status_message"] == EXCEPTION_MESSAGE
    assert back["attributes"]["exception.type"] == "ValueError"
    assert back["attributes"]["exception.message"] == EXCEPTION_MESSAGE
    assert "ValueError" in back["attributes"]["exception.stacktrace"]
    assert back["attributes"]["http.response.status_code"] == "500"
    assert root["attributes"]["http.route"] == "/api/order"
    assert spans[roles["db"]]["attributes"] == {"db.system": "sqlite"}
    # each ERROR log sits under the span that wrote it
    assert [(lg["severity"], lg["service"], lg["message"]) for lg in back["logs"]] == [
        ("ERROR", shop.back, f"charge failed: {EXCEPTION_MESSAGE}")
    ]
    assert [(lg["severity"], lg["service"]) for lg in root["logs"]] == [("ERROR", shop.front)]
    assert "payment backend" in root["logs"][0]["message"]
    assert all(not spans[sid]["logs"] for sid in (roles["validate"], roles["client"], roles["db"]))
    assert r["orphan_logs"] == []
    assert (r["log_count"], r["logs_returned"], r["logs_omitted"]) == (2, 2, 0)
    red = {snap["service"]: snap for snap in r["red"]}
    assert set(red) == {shop.front, shop.back}
    assert (red[shop.front]["requests"], red[shop.front]["errors"]) == (200, 37)
    assert red[shop.front]["error_ratio"] == 0.185
    assert (red[shop.back]["requests"], red[shop.back]["errors"]) == (37, 37)
    assert red[shop.back]["p95_ms"] == pytest.approx(80.0, rel=0.01)
    assert r["warnings"] == []


async def test_correlate_max_spans_keeps_root_errors_and_ancestors(shop: Shop) -> None:
    trace_id = shop.error_trace_ids[-1]
    roles = shop.roles[trace_id]
    r = await ok("correlate_trace", {"trace_id": trace_id, "max_spans": 1})
    ids = [s["span_id"] for s in r["spans"]]
    assert ids == [roles["root"], roles["client"], roles["back"]]  # client: ancestor of an error
    assert (r["span_count"], r["spans_returned"], r["spans_omitted"]) == (5, 3, 2)
    assert r["hint"] and "2 of 5 spans" in r["hint"]
    assert {(g["operation"], g["count"]) for g in r["omitted"]} == {
        (VALIDATE_OP, 1),
        (DB_OP, 1),
    }
    back = next(s for s in r["spans"] if s["span_id"] == roles["back"])
    assert len(back["logs"]) == 1 and r["orphan_logs"] == []


async def test_correlate_max_logs_zero_moves_nothing_into_orphans(shop: Shop) -> None:
    r = await ok("correlate_trace", {"trace_id": shop.error_trace_ids[1], "max_logs": 0})
    assert (r["log_count"], r["logs_returned"], r["logs_omitted"]) == (2, 0, 2)
    assert r["orphan_logs"] == [] and all(not s["logs"] for s in r["spans"])


async def test_correlate_unknown_and_invalid_ids() -> None:
    unknown = uuid.uuid4().hex
    r = await ok("correlate_trace", {"trace_id": unknown})
    assert r["found"] is False and r["trace_id"] == unknown and r["spans"] == []
    assert r["hint"] and "search_traces" in r["hint"]
    for bad in ("xyz", "0" * 32, "a" * 31, "a" * 33, "g" * 32):
        result = await call("correlate_trace", {"trace_id": bad})
        assert result.is_error, bad
        message = text_of(result)
        assert "32 hex" in message or "all zeros" in message, message


def _accounted(r: dict[str, Any]) -> int:
    """Spans shown + spans a shown repeat row stands for + spans summarised as omitted."""
    shown = len(r["spans"])
    represented = sum(sp["repeat"]["count"] - 1 for sp in r["spans"] if sp["repeat"])
    return shown + represented + sum(g["count"] for g in r["omitted"])


async def test_correlate_200_span_trace_fits_answer_budget(native_stack: Stack) -> None:
    s = native_stack.settings
    big = emit_big_trace(s.otlp_http_url, span_count=200, error_every=50, log_count=50)
    wait_for_big_trace(big, s.vl_url, s.vt_url)
    result = await call("correlate_trace", {"trace_id": big.trace_id, "max_tokens": 25000})
    assert not result.is_error, text_of(result)
    r = full_answer("correlate_trace", result.structured_content)
    # with room for everything, only what sits below a collapsed repeat is summarised
    assert r["span_count"] == 200 and _accounted(r) == 200
    assert r["spans_omitted"] == sum(g["count"] for g in r["omitted"])
    assert {g["operation"] for g in r["omitted"]} <= {
        sp["operation"] for sp in r["spans"] if not sp["repeat"]
    } | {"step"}
    assert r["error_count"] == len(big.error_span_ids) == 4
    assert set(big.error_span_ids) <= {sp["span_id"] for sp in r["spans"]}
    assert (r["log_count"], r["logs_returned"], r["logs_omitted"]) == (50, 50, 0)
    assert sum(len(sp["logs"]) for sp in r["spans"]) + len(r["orphan_logs"]) == 50
    text_chars, _ = answer_chars(result)
    assert approx_tokens(text_chars) <= 25000
    default = await call("correlate_trace", {"trace_id": big.trace_id})
    d = full_answer("correlate_trace", default.structured_content)
    text_chars, json_chars = answer_chars(default)
    print(
        f"\ncorrelate_trace 200 spans/50 logs: text {text_chars} chars "
        f"~{approx_tokens(text_chars)} tokens; structured {json_chars} chars"
    )
    assert text_chars <= 8000 * 4 and _accounted(d) == 200
    assert set(big.error_span_ids) <= {sp["span_id"] for sp in d["spans"]}


@pytest.fixture(scope="module")
def huge_trace(native_stack: Stack) -> BigTrace:
    s = native_stack.settings
    big = emit_big_trace(
        s.otlp_http_url, span_count=2000, error_every=200, log_count=100, prefix="huge"
    )
    wait_for_big_trace(big, s.vl_url, s.vt_url)
    return big


async def test_correlate_2000_span_trace_is_bounded(huge_trace: BigTrace) -> None:
    big = huge_trace
    result = await call("correlate_trace", {"trace_id": big.trace_id, "max_spans": 200})
    assert not result.is_error, text_of(result)
    r = full_answer("correlate_trace", result.structured_content)
    assert r["span_count"] == 2000 and len(r["spans"]) == r["spans_returned"] <= 200
    assert _accounted(r) == 2000 and r["spans_omitted"] == sum(g["count"] for g in r["omitted"])
    assert r["error_count"] == len(big.error_span_ids) == 10
    spans = {sp["span_id"]: sp for sp in r["spans"]}
    assert r["spans"][0]["span_id"] == big.root_span_id and r["spans"][0]["depth"] == 0
    assert set(big.error_span_ids) <= set(spans)
    assert all(spans[e]["status"] == "error" for e in big.error_span_ids)
    for sp in r["spans"][1:]:  # the shown tree is closed: no span without its parent
        assert sp["parent_span_id"] in spans, sp
    assert r["hint"] and f"{r['spans_omitted']} of 2000 spans" in r["hint"]
    assert r["log_count"] == 100 and r["logs_returned"] + r["logs_omitted"] == 100
    shown_logs = sum(len(sp["logs"]) for sp in r["spans"]) + len(r["orphan_logs"])
    assert shown_logs == r["logs_returned"]
    for error_id in big.error_span_ids[
        1:
    ]:  # each error span (after the root)'s own ERROR log is under it
        assert [lg["severity"] for lg in spans[error_id]["logs"]] == ["ERROR"]
    text_chars, json_chars = answer_chars(result)
    print(
        f"\ncorrelate_trace 2000 spans (max_spans=200)/100 logs: text {text_chars} chars "
        f"~{approx_tokens(text_chars)} tokens; structured {json_chars} chars "
        f"~{approx_tokens(json_chars)} tokens"
    )
    assert text_chars <= 8000 * 4
    small = await ok("correlate_trace", {"trace_id": big.trace_id, "max_spans": 20})
    assert big.must_keep > 20  # so the cut is decided by the always-kept spans alone
    assert small["spans_returned"] == big.must_keep
    assert small["spans_omitted"] == 2000 - big.must_keep
    assert set(big.error_span_ids) <= {sp["span_id"] for sp in small["spans"]}


async def test_correlate_default_bounds_fit_answer_budget(huge_trace: BigTrace) -> None:
    result = await call("correlate_trace", {"trace_id": huge_trace.trace_id})
    assert not result.is_error, text_of(result)
    text_chars, json_chars = answer_chars(result)
    assert approx_tokens(text_chars) < ANSWER_TOKEN_BUDGET, text_chars
    assert approx_tokens(json_chars) < ANSWER_TOKEN_BUDGET, json_chars


# ---- query_logs -------------------------------------------------------------------------------


async def test_query_logs_exact_counts(shop: Shop) -> None:
    errors = await ok(
        "query_logs",
        {"service": shop.front, "query": "severity_text:ERROR", "since": "15m", "limit": 1000},
    )
    assert errors["returned"] == 37 and errors["truncated"] is False and errors["hint"] is None
    root_spans = {shop.roles[t]["root"] for t in shop.error_trace_ids}
    for row in errors["rows"]:
        assert row["severity"] == "ERROR" and row["service"] == shop.front
        assert row["trace_id"] in shop.roles and row["span_id"] in root_spans
    assert f'"service.name":="{shop.front}"' in errors["query"]
    times = [row["time"] for row in errors["rows"]]
    assert times == sorted(times, reverse=True)
    everything = await ok("query_logs", {"service": shop.front, "since": "15m", "limit": 1000})
    assert everything["returned"] == shop.front_logs == 49
    info = await ok("query_logs", {"service": shop.front, "query": "severity_text:INFO",
                                   "since": "15m", "limit": 1000})  # fmt: skip
    assert info["returned"] == shop.info_logs == 12
    back = await ok("query_logs", {"service": shop.back, "query": EXCEPTION_MESSAGE.split()[0],
                                   "since": "15m", "limit": 1000})  # fmt: skip
    assert back["returned"] == 37


async def test_query_logs_limit_truncates(shop: Shop) -> None:
    r = await ok("query_logs", {"service": shop.front, "since": "15m", "limit": 10})
    assert r["returned"] == 10 and len(r["rows"]) == 10
    assert r["truncated"] is True and r["hint"] and "More than 10" in r["hint"]
    exact = await ok("query_logs", {"service": shop.back, "since": "15m", "limit": 37})
    assert exact["returned"] == 37 and exact["truncated"] is False


@pytest.mark.parametrize(
    "hostile",
    [
        'x" or *',
        '{front}" OR service.name:*',
        '{front}" | stats count()',
        '{front}\\" OR *',
        "*",
        '" or "" or "',
        "{front} OR service.name:*",
        "{front}\n| limit 1000",
    ],
)
async def test_hostile_service_values_match_nothing(shop: Shop, hostile: str) -> None:
    value = hostile.replace("{front}", shop.front)
    logs = await ok("query_logs", {"service": value, "since": "15m", "limit": 1000})
    assert logs["returned"] == 0 and logs["rows"] == [], value
    rate = await ok("error_rate", {"service": value, "since": "15m"})
    assert rate["total"] == 0, value
    found = await ok("search_traces", {"service": value, "limit": 200})
    assert found["returned"] == 0, value


@pytest.fixture(scope="module")
def weird(native_stack: Stack) -> Small:
    """A service whose name is full of LogsQL syntax: it must still be found exactly."""
    s = native_stack.settings
    name = f'we"ird\\ svc | stats {{x}}:* (ünï ✓) {uuid.uuid4().hex[:8]}'
    known = emit_small(s.otlp_http_url, total=10, errors=3, service=name)
    wait_for_small(known, s.vt_url, s.vl_url)
    return known


async def test_syntax_laden_service_name_round_trips(weird: Small) -> None:
    logs = await ok("query_logs", {"service": weird.service, "since": "15m", "limit": 1000})
    assert logs["returned"] == 3 and {r["service"] for r in logs["rows"]} == {weird.service}
    rate = await ok("error_rate", {"service": weird.service, "since": "15m"})
    assert (rate["total"], rate["errors"], rate["error_rate"]) == (10, 3, 0.3)
    found = await ok("search_traces", {"service": weird.service, "errors_only": True})
    assert found["returned"] == 3
    assert all(t["services"] == [weird.service] for t in found["traces"])
    listed = await ok("list_services", {"since": "15m"})
    assert weird.service in {s["service"] for s in listed["services"]}
    trace = await ok("correlate_trace", {"trace_id": weird.error_trace_id})
    assert trace["services"] == [weird.service]
    assert trace["red"][0]["service"] == weird.service and trace["red"][0]["requests"] == 10


async def test_hostile_operation_and_tag_values_match_nothing(shop: Shop) -> None:
    rate = await ok(
        "error_rate", {"service": shop.front, "since": "15m", "operation": f'{POST_OP}" OR *'}
    )
    assert rate["total"] == 0
    found = await ok(
        "search_traces",
        {"service": shop.back, "tags": {"http.response.status_code": '500" OR *'}, "limit": 200},
    )
    assert found["returned"] == 0


# ---- query_metrics ----------------------------------------------------------------------------


async def test_query_metrics_instant_and_range(shop: Shop) -> None:
    query = f'sum(orders_processed_total{{service_name="{shop.front}"}})'
    instant = await ok("query_metrics", {"query": query})
    assert instant["kind"] == "instant" and instant["returned"] == 1
    assert instant["series"][0]["value"] == shop.orders_processed == 123
    assert instant["series"][0]["labels"] == {}
    by_outcome = await ok(
        "query_metrics",
        {"query": f'sum by (outcome) (orders_processed_total{{service_name="{shop.front}"}})'},
    )
    values = {s["labels"]["outcome"]: s["value"] for s in by_outcome["series"]}
    assert values == {"ok": 86.0, "error": 37.0}
    ranged = await ok("query_metrics", {"query": query, "since": "10m"})
    assert ranged["kind"] == "range" and ranged["step_s"] == 5.0
    assert ranged["returned"] == 1
    points = ranged["series"][0]["values"]
    assert points and points[-1][1] == 123.0
    assert all(p[1] in (37.0, 86.0, 123.0) for p in points)  # partial sums only while landing


async def test_query_metrics_empty_and_invalid() -> None:
    empty = await ok("query_metrics", {"query": 'up{service_name="no-such-service-zz"}'})
    assert empty["returned"] == 0 and empty["hint"] and "_total" in empty["hint"]
    bad = await call("query_metrics", {"query": "sum(("})
    assert bad.is_error and "VictoriaMetrics" in text_of(bad)


# ---- list_services ----------------------------------------------------------------------------


async def test_list_services_sees_both(shop: Shop) -> None:
    r = await ok("list_services", {"since": "15m"})
    seen = {s["service"]: s for s in r["services"]}
    assert {shop.front, shop.back} <= set(seen)
    front, back = seen[shop.front], seen[shop.back]
    assert (front["spans"], front["logs"]) == (shop.front_spans, shop.front_logs) == (274, 49)
    assert (back["spans"], back["logs"]) == (shop.back_spans, shop.back_logs) == (74, 37)
    for entry in (front, back):
        assert entry["newest_span"] and entry["newest_span"].endswith("Z")
        assert entry["newest_log"] and entry["newest_log"].endswith("Z")
    assert front["metric_series"] is True and front["newest_metric"]
    assert back["metric_series"] is False
    assert r["returned"] == len(r["services"]) and r["warnings"] == []
