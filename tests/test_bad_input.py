"""Bad input on the real stack: property-based arguments, injection attempts, and every cap.

Hostile arguments must give a valid result or an actionable isError — never a protocol error,
never the server's "internal error in ..." wrapper for an unexpected exception.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from obs_mcp.config import Settings
from obs_mcp.stack.runner import Stack
from tests.answers import text_of
from tests.faultkit import (
    FaultProxy,
    hostport,
    log_count,
    log_rows,
    span_count,
    tool_session,
)
from tests.otel_emit import emitter
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

TRIED: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()


# ---- one session for all examples -------------------------------------------------------------
@pytest.fixture(scope="module")
def session(native_stack: Stack) -> Iterator[tuple[BlockingPortal, Client]]:
    env = {**native_stack.settings.store_env(), "OBS_MCP_TIMEOUT": "10"}
    with start_blocking_portal() as portal:
        manager = portal.wrap_async_context_manager(tool_session(env))
        with manager as client:
            yield portal, client
    print(
        f"\nbad-input examples tried per tool: {dict(TRIED)} (total {sum(TRIED.values())}); "
        f"outcomes: {dict(OUTCOMES)}"
    )


def call(session: tuple[BlockingPortal, Client], tool: str, args: dict[str, Any]) -> CallToolResult:
    portal, client = session
    return portal.call(client.call_tool, tool, args)


def assert_handled(tool: str, args: dict[str, Any], result: CallToolResult) -> None:
    """A valid result, or an isError that says what was wrong."""
    TRIED[tool] += 1
    text = text_of(result)
    if not result.is_error:
        OUTCOMES["result"] += 1
        assert result.structured_content is not None, (tool, args)
        return
    OUTCOMES["isError"] += 1
    assert "internal error in" not in text, f"unhandled exception for {tool}{args!r}: {text}"
    detail = text.split(f"Error executing tool {tool}:", 1)[-1].strip()
    assert len(detail) >= 15, f"bare error for {tool}{args!r}: {text!r}"


# ---- strategies -------------------------------------------------------------------------------
NASTY = [
    "", " ", "*", '"', "'", "\\", "|", "{", "}", "{}", "()", ":", "=", "\n", "\r\n", "\t", "\x00",
    'x" or *', "x' or '1'='1", '" | delete', "* | stats count()", '"service.name":*',
    '}) or vector(1) or ({', "${env:HOME}", "%s%s%n", "../../etc/passwd", "é𝄞中文", "\u202e",
    "a" * 5000, "9" * 400, "-1", "0", "1e309", "NaN", "null", "true",
]  # fmt: skip
DURATIONS = [
    "1m", "15m", "1h", "0s", "-5m", "5", "1e9s", "99999999d", "1h30m", "250ms", "1y", "m", "5 m",
    "0.0001ms", "31d", "32d", "366d",
]  # fmt: skip
INSTANTS = [
    "now", "2026-01-02T15:04:05Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0", "-1",
    "1e30", "99999999999999999999999", "17000000000000", "2026-13-45T99:99:99Z", "yesterday",
    "2026-01-02T15:04:05+14:00", "1700000000.5",
]  # fmt: skip

nasty_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=300))
opt_text = st.one_of(st.none(), nasty_text)
since_s = st.one_of(st.none(), st.sampled_from(DURATIONS), st.sampled_from(DURATIONS), nasty_text)
# start/end are mostly absent so that most examples reach the stores with the other arguments
instant_s = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(INSTANTS), nasty_text)
big_ints = st.one_of(
    st.sampled_from([-(2**63), -1, 0, 1, 200, 201, 1000, 1001, 5000, 5001, 2**63]),
    st.integers(min_value=-(10**12), max_value=10**12),
)
trace_ids = st.one_of(
    st.sampled_from(["0" * 32, "F" * 32, "g" * 32, " " + "a" * 32 + " ", "a" * 31, "a" * 33]),
    st.text(alphabet="0123456789abcdefABCDEFxyz-", min_size=0, max_size=40),
    nasty_text,
)
tags_s = st.one_of(st.none(), st.dictionaries(nasty_text, nasty_text, max_size=12))

HYPO = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _args(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


@HYPO
@given(since=since_s, start=instant_s, end=instant_s)
def test_list_services_any_input(session: Any, since: Any, start: Any, end: Any) -> None:
    args = _args(since=since, start=start, end=end)
    assert_handled("list_services", args, call(session, "list_services", args))


@HYPO
@given(service=nasty_text, since=since_s, start=instant_s, end=instant_s, operation=opt_text)
def test_error_rate_any_input(
    session: Any, service: str, since: Any, start: Any, end: Any, operation: Any
) -> None:
    args = _args(service=service, since=since, start=start, end=end, operation=operation)
    assert_handled("error_rate", args, call(session, "error_rate", args))


@HYPO
@given(
    service=nasty_text,
    operation=opt_text,
    errors_only=st.booleans(),
    min_duration=st.one_of(st.none(), st.sampled_from(DURATIONS), nasty_text),
    tags=tags_s,
    since=since_s,
    start=instant_s,
    end=instant_s,
    limit=big_ints,
)
def test_search_traces_any_input(session: Any, **kw: Any) -> None:
    args = _args(**kw)
    assert_handled("search_traces", args, call(session, "search_traces", args))


@HYPO
@given(
    trace_id=trace_ids,
    max_spans=st.one_of(st.none(), big_ints),
    max_logs=st.one_of(st.none(), big_ints),
)
def test_correlate_trace_any_input(
    session: Any, trace_id: str, max_spans: Any, max_logs: Any
) -> None:
    args = _args(trace_id=trace_id, max_spans=max_spans, max_logs=max_logs)
    assert_handled("correlate_trace", args, call(session, "correlate_trace", args))


@HYPO
@given(
    query=opt_text, service=opt_text, since=since_s, start=instant_s, end=instant_s, limit=big_ints
)
def test_query_logs_any_input(session: Any, **kw: Any) -> None:
    args = _args(**kw)
    assert_handled("query_logs", args, call(session, "query_logs", args))


@HYPO
@given(
    query=nasty_text,
    since=since_s,
    start=instant_s,
    end=instant_s,
    step=st.one_of(st.none(), st.sampled_from(DURATIONS), nasty_text),
)
def test_query_metrics_any_input(session: Any, **kw: Any) -> None:
    args = _args(**kw)
    assert_handled("query_metrics", args, call(session, "query_metrics", args))


def test_wrong_types_are_actionable(session: Any) -> None:
    for tool, args in [
        ("query_logs", {"limit": "ten"}),
        ("query_logs", {"limit": 1.5}),
        ("search_traces", {"service": 42}),
        ("search_traces", {"service": "a", "tags": ["not", "a", "dict"]}),
        ("correlate_trace", {}),
        ("error_rate", {"service": None}),
        ("query_metrics", {"query": {"nested": True}}),
    ]:
        result = call(session, tool, args)
        assert result.is_error, (tool, args)
        assert_handled(tool, args, result)


# ---- injection: a hostile name never widens a query -------------------------------------------
HOSTILE = [
    'x" or *',
    "*",
    'x" OR "service.name":*',
    'x" | stats count() | "',
    'x") or ("*',
    'x\\" or *',
    "x\n* ",
]


@pytest.fixture(scope="module")
def victims(native_stack: Stack) -> tuple[str, str, int]:
    """Two services with logs and server spans: (a, b, items of a)."""
    s = native_stack.settings
    a, b = f"inj-a-{uuid.uuid4().hex[:6]}", f"inj-b-{uuid.uuid4().hex[:6]}"
    n = 6
    for name in (a, b):
        em = emitter(s.otlp_http_url, name)
        for i in range(n):
            with em.tracer.start_as_current_span("GET /thing", kind=SpanKind.SERVER) as span:
                span.set_attribute("http.route", "/thing")
                if i % 2:
                    span.set_status(Status(StatusCode.ERROR))
                em.logger.error("thing failed %d %s", i, "x" * 400)
        em.shutdown()
    for name in (a, b):
        wait_for(lambda name=name: log_count(native_stack, name) == n)
        # `stats count()` can see new rows ~1 s before a plain (limited) query returns them
        wait_for(lambda name=name: len(log_rows(native_stack, name)) == n)
        wait_for(lambda name=name: span_count(native_stack, name) == n)
    return a, b, n


def ok(session: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = call(session, tool, args)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def test_hostile_service_matches_nothing_in_logs(
    session: Any, victims: tuple[str, str, int]
) -> None:
    a, b, n = victims
    assert ok(session, "query_logs", {"service": a, "since": "1h", "limit": 100})["returned"] == n
    for bad in [*HOSTILE, f'{a}" or "service.name":="{b}', f"{a}*"]:
        got = ok(session, "query_logs", {"service": bad, "since": "1h", "limit": 100})
        assert got["returned"] == 0, (bad, got["rows"][:2])
    # the free LogsQL query cannot lift the service filter either
    other = ok(
        session, "query_logs", {"service": a, "query": f'"service.name":="{b}" or *', "since": "1h"}
    )
    assert {r["service"] for r in other["rows"]} <= {a}


def test_hostile_names_match_nothing_in_error_rate(
    session: Any, victims: tuple[str, str, int]
) -> None:
    a, _b, n = victims
    real = ok(session, "error_rate", {"service": a, "since": "1h"})
    assert (real["total"], real["errors"]) == (n, n // 2)
    for bad in HOSTILE:
        assert ok(session, "error_rate", {"service": bad, "since": "1h"})["total"] == 0, bad
        got = ok(session, "error_rate", {"service": a, "operation": bad, "since": "1h"})
        assert got["total"] == 0, bad


def test_hostile_names_match_nothing_in_search_traces(
    session: Any, victims: tuple[str, str, int]
) -> None:
    a, _b, n = victims
    assert ok(session, "search_traces", {"service": a, "since": "1h"})["returned"] == n
    assert (
        ok(
            session,
            "search_traces",
            {"service": a, "since": "1h", "tags": {"http.route": "/thing"}},
        )["returned"]
        == n
    )
    for bad in HOSTILE:
        for args in (
            {"service": bad},
            {"service": a, "operation": bad},
            {"service": a, "tags": {"http.route": bad}},
            {"service": a, "tags": {bad: "/thing"}},
        ):
            result = call(session, "search_traces", {**args, "since": "1h"})
            if result.is_error:  # a '*' in a tag name is refused (LogsQL wildcard)
                assert "'*' is not allowed" in text_of(result), text_of(result)
                continue
            got = result.structured_content or {}
            assert got["returned"] == 0, (args, got["traces"][:1])


# ---- caps -------------------------------------------------------------------------------------
def test_row_caps(session: Any, victims: tuple[str, str, int]) -> None:
    a, _b, n = victims
    few = ok(session, "query_logs", {"service": a, "since": "1h", "limit": 2})
    assert few["returned"] == 2 and few["truncated"] is True
    assert ok(session, "query_logs", {"limit": 1000, "since": "1h"})["returned"] <= 1000
    for tool, args in (
        ("query_logs", {"limit": 1001}),
        ("search_traces", {"service": a, "limit": 201}),
        ("correlate_trace", {"trace_id": "a" * 32, "max_spans": 5001}),
        ("correlate_trace", {"trace_id": "a" * 32, "max_logs": 1001}),
    ):
        result = call(session, tool, args)
        assert result.is_error, (tool, args)
        assert_handled(tool, args, result)
    assert n < 1000


def test_range_points_are_thinned(session: Any) -> None:
    got = ok(session, "query_metrics", {"query": "vector(1)", "since": "1h", "step": "1s"})
    values = got["series"][0]["values"]
    assert len(values) <= 121, len(values)
    assert got["points_omitted"] >= 3600 - 121 and got["truncated"] is True
    huge = call(session, "query_metrics", {"query": "vector(1)", "since": "31d", "step": "1s"})
    assert huge.is_error and "11000 points" in text_of(huge)
    print(f"\nrange 1h @ 1s: {len(values)} points kept, {got['points_omitted']} omitted")


async def test_byte_cap_gives_clear_error(
    native_stack: Stack, victims: tuple[str, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer-size cap (8 MiB by default) holds: shrink it to 2 KiB and ask for more."""
    a, _b, _n = victims
    original = Settings.from_env.__func__  # type: ignore[attr-defined]

    def small_cap(cls: type[Settings], env: Any = None) -> Settings:
        return original(cls, env).model_copy(update={"max_response_bytes": 2048})

    monkeypatch.setattr(Settings, "from_env", classmethod(small_cap))
    async with tool_session(native_stack.settings.store_env()) as client:
        result = await client.call_tool("query_logs", {"service": a, "since": "1h", "limit": 1000})
    text = text_of(result)
    assert result.is_error, text
    assert "answer larger than 2 KiB" in text and "Narrow the query" in text, text


async def test_query_timeout_is_passed_to_the_stores(
    native_stack: Stack, victims: tuple[str, str, int]
) -> None:
    a, _b, _n = victims
    s = native_stack.settings
    with (
        FaultProxy(hostport(s.vl_url)) as vl,
        FaultProxy(hostport(s.vm_url)) as vm,
        FaultProxy(hostport(s.vt_url)) as vt,
    ):
        env = {"VL_URL": vl.url, "VM_URL": vm.url, "VT_URL": vt.url, "OBS_MCP_TIMEOUT": "7"}
        async with tool_session(env) as client:
            for tool, args in (
                ("query_logs", {"service": a, "since": "1h"}),
                ("query_metrics", {"query": "vector(1)"}),
                ("query_metrics", {"query": "vector(1)", "since": "5m"}),
                ("error_rate", {"service": a, "since": "1h"}),
                ("search_traces", {"service": a, "since": "1h"}),
            ):
                result = await client.call_tool(tool, args)
                assert not result.is_error, text_of(result)
        queries = [t for p in (vl, vm, vt) for _m, t in p.requests if "query" in t.split("?")[0]]
    assert queries
    missing = [q for q in queries if "timeout=7s" not in q]
    assert not missing, missing
