"""Every figure on telemetry this project did not design (tests/foreign_shapes.py), checked
against the reference computed from what was emitted: requests and errors under two
instrumentations and UNSET 5xx, exact percentiles over 50,000 log-normal durations, the
N+1 as one row, incidents instead of echoes, exact neighbour calls, sub-millisecond log order
and big traces inside the token budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obs_mcp.stack.procs import free_port
from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import rfc3339_ns
from tests.answers import answer_chars, call, full_answer, ok, text_of
from tests.foreign_shapes import (
    CloseLogs,
    LogNormal,
    Request,
    TwoInstrumentations,
    WideTrace,
    emit_close_logs,
    emit_log_normal,
    emit_n_plus_one_runs,
    emit_two_instrumentations,
    emit_wide_trace,
    percentiles_ms,
)
from tests.known_telemetry import wait_for_count

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]
SVC = '"resource_attr:service.name"'


@pytest.fixture(scope="module")
def two(native_stack: Stack) -> TwoInstrumentations:
    s = native_stack.settings
    shape = emit_two_instrumentations(s.otlp_http_url)
    wait_for_count(s.vt_url, f"{SVC}:in({shape.gateway!r}, {shape.api!r})".replace("'", '"'),
                   shape.spans, timeout=60)  # fmt: skip
    return shape


@pytest.fixture(scope="module")
def log_normal(native_stack: Stack) -> Iterator[LogNormal]:
    s = native_stack.settings
    shape = emit_log_normal(s.otlp_http_url)
    wait_for_count(s.vt_url, f'{SVC}:="{shape.service}"', shape.requests.total, timeout=120)
    yield shape


def _expected(requests: list[Request]) -> dict[str, object]:
    return {
        "total": len(requests),
        "errors": sum(r.failed for r in requests),
        **{f"{k}_ms": v for k, v in percentiles_ms([r.duration for r in requests]).items()},
    }


def _figures(answer: dict[str, object]) -> dict[str, object]:
    return {k: answer[k] for k in ("total", "errors", "p50_ms", "p95_ms", "p99_ms")}


# ---- requests and errors ----------------------------------------------------------------------
async def test_two_server_spans_per_request_count_once(two: TwoInstrumentations) -> None:
    r = await ok("error_rate", {"service": two.api, "since": "10m"})
    assert _figures(r) == _expected(two.api_requests.all)
    assert r["total"] == 310 and r["errors"] == two.key_errors + two.unset_503 == 45
    assert r["percentiles_exact"] is True
    ops = {o["operation"]: o for o in r["operations"]}
    assert set(ops) == {"GET", "POST"}  # the outer (entry) span names, never the nested ones
    for name, rows in two.api_requests.by_operation.items():
        assert _figures(ops[name] | {"total": ops[name]["total"]}) == _expected(rows)


async def test_unset_5xx_is_an_error_4xx_is_not(two: TwoInstrumentations) -> None:
    r = await ok("error_rate", {"service": two.gateway, "since": "10m"})
    assert _figures(r) == _expected(two.gateway_requests.all)
    assert two.not_found > 0 and r["errors"] == 45  # 404s are not server errors


# ---- percentiles ------------------------------------------------------------------------------
async def test_exact_percentiles_over_50k_log_normal_requests(log_normal: LogNormal) -> None:
    r = await ok("error_rate", {"service": log_normal.service, "since": "1h"})
    assert _figures(r) == _expected(log_normal.requests.all)
    assert r["percentiles_exact"] is True and r["total"] == 50_000
    for op in r["operations"]:
        assert _figures(op) == _expected(log_normal.requests.by_operation[op["operation"]])


async def test_compare_runs_uses_the_same_figures(two: TwoInstrumentations) -> None:
    rows = sorted(two.api_requests.all, key=lambda r: r.end)
    cut = rows[150].end  # the first 150 requests end before it, the rest at or after it
    start, end = rows[0].end - 1000, rows[-1].end + 1000
    r = await ok(
        "compare_runs",
        {"service": two.api, "baseline_start": rfc3339_ns(start), "baseline_end": rfc3339_ns(cut),
         "current_start": rfc3339_ns(cut), "current_end": rfc3339_ns(end)},
    )  # fmt: skip
    for side, requests in (("baseline", rows[:150]), ("current", rows[150:])):
        got = r[side] | {"total": r[side]["requests"]}
        assert _figures(got) == _expected(requests), side
    assert r["percentiles_exact"] is True


# ---- the N+1 ------------------------------------------------------------------------------------
async def test_n_plus_one_reads_as_one_row(two: TwoInstrumentations) -> None:
    r = await ok("correlate_trace", {"trace_id": two.n_plus_one_trace})
    rows = [s for s in r["spans"] if s["operation"] == "SELECT items"]
    assert len(rows) == 1, rows
    assert rows[0]["repeat"]["count"] == two.n_plus_one_calls
    assert rows[0]["repeat"]["total_ms"] == two.n_plus_one_total_ms
    assert rows[0]["parent_span_id"] == two.n_plus_one_parent
    repeated = r["latency"]["repeated"][0]
    assert (repeated["operation"], repeated["count"], repeated["total_ms"]) == (
        "SELECT items", two.n_plus_one_calls, two.n_plus_one_total_ms,
    )  # fmt: skip
    # both server spans and the gateway are shown; nothing is silently gone
    shown = len(r["spans"]) + sum(s["repeat"]["count"] - 1 for s in r["spans"] if s["repeat"])
    assert shown + sum(g["count"] for g in r["omitted"]) == r["span_count"] == 5 + 25


# ---- incidents, not echoes ------------------------------------------------------------------------
async def test_top_errors_puts_the_origin_first(two: TwoInstrumentations) -> None:
    r = await ok("top_errors", {"service": two.api, "since": "10m"})
    first, second = r["signatures"][:2]
    assert (first["service"], first["operation"], first["exception_type"], first["count"]) == (
        two.api, "GET /items/{id}", "KeyError", two.key_errors,
    )  # fmt: skip
    assert first["message"] == "<str>" and first["example"] == "'usd'"
    echoes = {(e["service"], e["operation"]): e["count"] for e in first["seen_upstream_as"]}
    assert echoes == {
        (two.api, "GET"): two.key_errors,  # the ASGI span, UNSET with 500
        (two.api, "http send"): two.key_errors,  # the framework span failing beside it
        (two.gateway, "GET"): two.key_errors,  # the caller's client span
        (two.gateway, "GET /gw"): two.key_errors,  # the caller's 502
    }
    assert (second["operation"], second["message"], second["count"]) == (
        "GET /items/{id}", "HTTP 503", two.unset_503,
    )  # fmt: skip
    assert {(e["service"], e["operation"]) for e in second["seen_upstream_as"]} == {
        (two.api, "GET"), (two.gateway, "GET /gw"),
    }  # fmt: skip
    assert len(r["signatures"]) == 2  # no echo listed as an incident of its own


async def test_neighbours_are_exact(two: TwoInstrumentations) -> None:
    api = await ok("service_overview", {"service": two.api, "since": "10m"})
    assert api["upstream"] == [{"service": two.gateway, "calls": 300, "errors": 45}]
    assert api["downstream"] == []
    assert (api["red"]["requests"], api["red"]["errors"]) == (310, 45)
    # the N+1: one handler run made 25 identical SELECTs; the others made 2 (not a repeat)
    n = two.n_plus_one_calls
    assert api["repeated_calls"] == [
        {"operation": "GET /items/{id}", "call": "SELECT items", "parents": 1, "calls_min": n,
         "calls_mean": float(n), "calls_max": n, "calls": n}
    ]  # fmt: skip
    gw = await ok("service_overview", {"service": two.gateway, "since": "10m"})
    assert gw["downstream"] == [{"service": two.api, "calls": 300, "errors": 45}]
    assert gw["top_errors"][0]["exception_type"] == "KeyError"


# ---- time as numbers ----------------------------------------------------------------------------
async def test_logs_newest_first_at_sub_millisecond_precision(native_stack: Stack) -> None:
    s = native_stack.settings
    shape: CloseLogs = emit_close_logs(s.otlp_http_url)
    wait_for_count(s.vl_url, f'"service.name":="{shape.service}"', len(shape.times))
    r = await ok("query_logs", {"service": shape.service, "since": "5m"})
    expected = sorted(zip(shape.times, shape.messages, strict=True), reverse=True)
    assert [row["message"] for row in r["rows"]] == [m for _, m in expected]
    assert [row["time"] for row in r["rows"]] == [rfc3339_ns(t) for t, _ in expected]
    assert len({row["time"] for row in r["rows"]}) == len(shape.times)  # 5 µs apart, still apart


# ---- big traces ------------------------------------------------------------------------------------
@pytest.mark.parametrize("long_attributes", [False, True], ids=["short-names", "long-attributes"])
async def test_2000_span_trace_fits_8k_tokens(native_stack: Stack, long_attributes: bool) -> None:
    s = native_stack.settings
    wide: WideTrace = emit_wide_trace(s.otlp_http_url, long_attributes=long_attributes)
    wait_for_count(s.vt_url, f'trace_id:="{wide.trace_id}"', wide.span_count, timeout=60)
    result = await call("correlate_trace", {"trace_id": wide.trace_id})
    assert not result.is_error, text_of(result)
    r = full_answer("correlate_trace", result.structured_content)
    text_chars, _ = answer_chars(result)
    print(f"\n2000-span trace ({'long' if long_attributes else 'short'}): {text_chars} chars")
    assert text_chars <= 8000 * 4
    shown = {sp["span_id"] for sp in r["spans"]}
    assert wide.root_span_id in shown and set(wide.error_span_ids) <= shown
    assert r["span_count"] == wide.span_count and r["error_count"] == len(wide.error_span_ids)
    represented = sum(sp["repeat"]["count"] - 1 for sp in r["spans"] if sp["repeat"])
    assert len(shown) + represented + sum(g["count"] for g in r["omitted"]) == wide.span_count
    bigger = await call("correlate_trace", {"trace_id": wide.trace_id, "max_tokens": 25000})
    assert answer_chars(bigger)[0] <= 25000 * 4
    assert len(full_answer("correlate_trace", bigger.structured_content)["spans"]) > len(shown)


async def test_2000_span_fan_out_with_40_errors_and_logs_keeps_every_error(
    native_stack: Stack,
) -> None:
    """The benchmark's SDK trace: 5 services, fan-out 10, an error span every 50 with its own
    ERROR log, 2,040 logs. Every error span and its ancestors must fit, and when some cannot,
    the warning's count is the number actually left out."""
    from benchmarks.answer_size import SERVICES, emit_trace, wait_stored

    from tests.otel_emit import emitter

    emitters = [emitter(native_stack.settings.otlp_http_url, name) for name in SERVICES]
    emitted = emit_trace(emitters, 2000, "fan")
    for em in emitters:
        em.shutdown()
    wait_stored(native_stack, emitted)
    result = await call("correlate_trace", {"trace_id": emitted.trace_id})
    r = full_answer("correlate_trace", result.structured_content)
    assert answer_chars(result)[0] <= 8000 * 4
    shown = {sp["span_id"] for sp in r["spans"]}
    assert len(emitted.error_span_ids) == 40 and emitted.error_span_ids <= shown
    assert emitted.root_span_id in shown and not r["warnings"]
    small = await call("correlate_trace", {"trace_id": emitted.trace_id, "max_tokens": 2000})
    tight = full_answer("correlate_trace", small.structured_content)
    assert answer_chars(small)[0] <= 2000 * 4
    missing = len(emitted.error_span_ids - {sp["span_id"] for sp in tight["spans"]})
    assert missing > 0 and tight["warnings"] == [
        f"{missing} error spans did not fit the 2000-token budget (counted under `omitted`): "
        "raise max_tokens to see them."
    ]
    assert sum(g.get("errors", 0) for g in tight["omitted"]) == missing


async def test_compare_runs_names_the_repeated_span(native_stack: Stack) -> None:
    s = native_stack.settings
    shape = emit_n_plus_one_runs(s.otlp_http_url)
    wait_for_count(s.vt_url, f'{SVC}:="{shape.service}"', 40 * (1 + 2) + 40 * (1 + 25))
    (base_run, base_calls), (cur_run, cur_calls) = shape.runs.items()
    r = await ok(
        "compare_runs",
        {"service": shape.service, "baseline_run": base_run, "current_run": cur_run},
    )
    assert (r["baseline"]["requests"], r["current"]["requests"]) == (40, 40)
    first = r["span_changes"][0]
    assert (first["operation"], first["calls_per_request"]) == (
        "SELECT items", [float(base_calls), float(cur_calls)]
    )  # fmt: skip
    assert first["self_ms_per_request"] == [
        shape.newest_select_ms[base_run], shape.newest_select_ms[cur_run]
    ]  # fmt: skip
    assert first["summary"].startswith("SELECT items: 2 -> 25 calls per request, +")
    assert r["span_changes_basis"].startswith("the 20 and 20 newest requests")
    assert any(m.startswith("GET /cart: p95") for m in r["p95_moved"]), r["p95_moved"]
    assert r["verdict"] == "regressed"


async def test_span_store_down_is_never_not_found(
    monkeypatch: pytest.MonkeyPatch, two: TwoInstrumentations
) -> None:
    """No logs carry the id and the span store does not answer: an error naming the store,
    not 'no spans or logs carry this trace_id'."""
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    monkeypatch.setenv("VT_URL", dead)
    result = await call("correlate_trace", {"trace_id": two.n_plus_one_trace})
    assert result.is_error
    assert "VictoriaTraces" in text_of(result) and dead in text_of(result)
