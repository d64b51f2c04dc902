"""Fast pure tests (no stack): time arguments, query quoting, trace ids, span selection, models."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obs_mcp.core.metrics import _instant_result, _range_result, auto_step
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import (
    CorrelatedTrace,
    ErrorRateResult,
    LogsResult,
    MetricsResult,
    OperationRate,
    Series,
    SpanNode,
)
from obs_mcp.queries import (
    check_name,
    logsql_exact,
    logsql_field,
    logsql_in,
    logsql_string,
    normalize_trace_id,
    promql_label_value,
    promql_matcher,
)
from obs_mcp.timeparse import (
    MAX_WINDOW,
    parse_duration,
    parse_instant,
    parse_store_time,
    resolve_window,
    rfc3339,
)

NOW = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)

# ---- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("1.5h", 5400),
        ("2w", 14 * 86400),
        (" 15M ", 900),
        ("1m30s", 90),
    ],
)
def test_parse_duration_accepts(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "5",
        "abc",
        "-5m",
        "10y",
        "0s",
        "5 m",
        "m5",
        "1h 30m",
        "1e3s",
        "400d",
        "5m!",
        "x" * 40,
    ],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_duration(text, "since")
    assert "since" in str(info.value)


def test_invalid_argument_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_duration("nope")


# ---- instants and windows ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),  # naive = UTC
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02t03:04:05z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # unix seconds
        ("1700000000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # unix ms
        ("1700000000.5", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str | int, expected: datetime) -> None:
    parsed = parse_instant(text, "start")
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "1e30", "-5", ""])
def test_parse_instant_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_instant(text, "end")
    assert "end" in str(info.value)


def test_resolve_window_since_counts_back_from_now() -> None:
    window = resolve_window("15m", None, None, now=NOW)
    assert (window.start, window.end) == (NOW - timedelta(minutes=15), NOW)
    assert window.seconds == 900
    assert window.describe() == "2026-03-04T11:45:00.000000Z .. 2026-03-04T12:00:00.000000Z"


def test_resolve_window_default_since() -> None:
    assert resolve_window(None, None, None, default_since="1h", now=NOW).seconds == 3600
    assert resolve_window("", None, "", default_since="5m", now=NOW).seconds == 300


def test_resolve_window_explicit_start_end_win_over_since() -> None:
    window = resolve_window("15m", "2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z", now=NOW)
    assert window.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 3, 1, 1, tzinfo=UTC)


def test_resolve_window_since_counts_back_from_explicit_end() -> None:
    window = resolve_window("2h", None, "2026-03-01T10:00:00Z", now=NOW)
    assert window.start == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_resolve_window_unix_seconds_and_ms() -> None:
    window = resolve_window(None, "1700000000", "1700000060000", now=NOW)
    assert window.seconds == 60


def test_resolve_window_naive_rfc3339_is_utc() -> None:
    window = resolve_window(None, "2026-03-01T00:00:00", "2026-03-01T00:30:00", now=NOW)
    assert window.start == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-01T01:00:00Z", "2026-03-01T00:00:00Z"),  # inverted
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),  # empty
    ],
)
def test_resolve_window_refuses_inverted(start: str, end: str) -> None:
    with pytest.raises(InvalidArgument, match="before"):
        resolve_window(None, start, end, now=NOW)


def test_resolve_window_limit_is_31_days() -> None:
    assert resolve_window("31d", None, None, now=NOW).end - NOW == timedelta(0)
    assert timedelta(days=31) == MAX_WINDOW
    with pytest.raises(InvalidArgument, match="31 days"):
        resolve_window("32d", None, None, now=NOW)
    with pytest.raises(InvalidArgument, match="31 days"):
        resolve_window(None, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", now=NOW)


def test_rfc3339_and_store_time() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert rfc3339(moment) == "2026-01-02T03:04:05.123456Z"
    parsed = parse_store_time("2026-11-21T23:14:44.968031798Z")
    assert parsed == datetime(2026, 11, 21, 23, 14, 44, 968031, tzinfo=UTC)
    assert parse_store_time("2026-11-21T23:14:44Z") == datetime(
        2026, 11, 21, 23, 14, 44, tzinfo=UTC
    )
    assert parse_store_time("2026-11-21T23:14:44.5Z").microsecond == 500000


# ---- LogsQL quoting ---------------------------------------------------------------------------

NASTY = [
    'x" or *',
    'front" OR service.name:*',
    "back\\slash\\",
    'quote"in"middle',
    "new\nline\r\ttab",
    "pipe | stats count()",
    "{braces} and (parens)",
    "ünïcødé ✓ 日本",
    "nul\x00byte",
    "*",
    "",
    '\\"',
    "emoji 🧨",
    "\u2028line sep",
]


@pytest.mark.parametrize("value", NASTY)
def test_logsql_string_is_one_literal_that_round_trips(value: str) -> None:
    quoted = logsql_string(value)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert json.loads(quoted) == value
    inner = quoted[1:-1]
    assert not re.search(r'(?<!\\)(?:\\\\)*"', inner), "an unescaped quote ends the literal early"
    assert "\n" not in quoted and "\r" not in quoted


@given(st.text())
def test_logsql_string_round_trips_any_text(value: str) -> None:
    quoted = logsql_string(value)
    assert json.loads(quoted) == value
    assert not re.search(r'(?<!\\)(?:\\\\)*"', quoted[1:-1])


def test_logsql_exact_and_in() -> None:
    assert logsql_exact("service.name", "front") == '"service.name":="front"'
    assert logsql_exact("resource_attr:service.name", 'a"b') == (
        '"resource_attr:service.name":="a\\"b"'
    )
    assert logsql_field("span_attr:http.route") == '"span_attr:http.route"'
    assert logsql_in("kind", ["2", "5"]) == '"kind":in("2","5")'
    assert logsql_in("trace_id", ['x") or *']) == '"trace_id":in("x\\") or *")'


# ---- PromQL quoting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("front", '"front"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb", '"a\\nb"'),
        ('x"} or vector(1) #', '"x\\"} or vector(1) #"'),
        ("ünï", '"ünï"'),
    ],
)
def test_promql_label_value(value: str, expected: str) -> None:
    assert promql_label_value(value) == expected


@given(st.text())
def test_promql_label_value_round_trips(value: str) -> None:
    """PromQL's double-quoted escapes agree with JSON's for what is escaped; other control
    characters may stay raw (the PromQL lexer only refuses a raw newline)."""
    quoted = promql_label_value(value)
    assert json.loads(quoted, strict=False) == value
    assert "\n" not in quoted


def test_promql_matcher_checks_label_names() -> None:
    assert promql_matcher("service_name", 'a"b') == 'service_name="a\\"b"'
    for bad in ("service.name", "1abc", 'x="y",z', ""):
        with pytest.raises(InvalidArgument):
            promql_matcher(bad, "v")


# ---- trace ids and names ----------------------------------------------------------------------

VALID_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("given_id", [VALID_ID, VALID_ID.upper(), f"  {VALID_ID}\n"])
def test_normalize_trace_id_accepts(given_id: str) -> None:
    assert normalize_trace_id(given_id) == VALID_ID


@pytest.mark.parametrize(
    "bad",
    [
        VALID_ID[:31],
        VALID_ID + "0",
        "g" + VALID_ID[1:],
        "xyz",
        "",
        "0" * 32,
        "00000000-0000-0000-0000-000000000001",
        VALID_ID[:16],
        f'{VALID_ID[:30]}"*',
    ],
)
def test_normalize_trace_id_refuses(bad: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        normalize_trace_id(bad)
    assert "32 hex" in str(info.value) or "all zeros" in str(info.value)


def test_normalize_trace_id_message_is_bounded() -> None:
    with pytest.raises(InvalidArgument) as info:
        normalize_trace_id("z" * 10_000)
    assert len(str(info.value)) < 300


def test_check_name() -> None:
    assert check_name('any "text" | ok', "service") == 'any "text" | ok'
    for bad in ("", "   ", "x" * 257):
        with pytest.raises(InvalidArgument, match="service"):
            check_name(bad, "service")
    assert check_name("x" * 256, "service")


# ---- metrics shaping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "step"),
    [(60, 1), (600, 5), (900, 10), (3600, 30), (86400, 900), (31 * 86400, 43200)],
)
def test_auto_step_keeps_points_bounded(seconds: float, step: float) -> None:
    assert auto_step(seconds) == step
    assert seconds / auto_step(seconds) <= 120


def test_instant_result_shapes_vector_and_scalar() -> None:
    vector = _instant_result(
        "q",
        {"resultType": "vector", "result": [{"metric": {"b": "2", "a": "1"}, "value": [1.5, "7"]}]},
    )
    assert vector.kind == "instant" and vector.returned == 1 and vector.hint is None
    assert vector.series[0].value == 7.0 and list(vector.series[0].labels) == ["a", "b"]
    assert vector.series[0].time == "1970-01-01T00:00:01.500000Z"
    scalar = _instant_result("q", {"resultType": "scalar", "result": [2.0, "3"]})
    assert scalar.series[0].value == 3.0 and scalar.series[0].labels == {}
    empty = _instant_result("q", {"resultType": "vector", "result": []})
    assert empty.returned == 0 and empty.hint and "_total" in empty.hint


def test_range_result_thins_long_series_and_keeps_the_newest_point() -> None:
    points = [[float(t), str(t)] for t in range(1000)]
    result = _range_result("q", {"result": [{"metric": {}, "values": points}]}, "w", 1.0)
    values = result.series[0].values
    assert values is not None and len(values) <= 121
    assert values[-1][1] == 999.0
    assert result.points_omitted == 1000 - len(values) and result.truncated is True


def test_range_result_caps_series() -> None:
    data = {"result": [{"metric": {"i": str(i)}, "values": [[0, "1"]]} for i in range(60)]}
    result = _range_result("q", data, "w", 1.0)
    assert result.returned == 50 and result.truncated is True
    assert result.hint and "60 series matched, 50 shown" in result.hint


def test_non_finite_sample_becomes_null_not_a_crash() -> None:
    """JSON has no Inf/NaN: the value is reported as null and the answer stays valid JSON."""
    result = _instant_result(
        "q", {"resultType": "vector", "result": [{"metric": {}, "value": [0, "+Inf"]}]}
    )
    assert result.series[0].value is None
    assert "Infinity" not in result.model_dump_json() and "NaN" not in result.model_dump_json()


# ---- models -----------------------------------------------------------------------------------


def test_models_serialise_to_plain_json() -> None:
    operation = OperationRate(
        operation="POST /x",
        total=80,
        errors=37,
        error_rate=0.4625,
        p50_ms=20.0,
        p95_ms=100.0,
        p99_ms=100.0,
    )
    rate = ErrorRateResult(
        service="s",
        window="w",
        source="src",
        total=200,
        errors=37,
        error_rate=0.185,
        p50_ms=15.0,
        p95_ms=None,
        p99_ms=None,
        operations=[operation],
        operations_returned=1,
        operations_truncated=False,
    )
    data = json.loads(rate.model_dump_json())
    assert data["error_rate"] == 0.185 and data["p95_ms"] is None and data["hint"] is None
    assert ErrorRateResult.model_validate_json(rate.model_dump_json()) == rate


def test_series_values_serialise_as_pairs() -> None:
    result = MetricsResult(
        query="q",
        kind="range",
        series=[Series(labels={"a": "1"}, values=[("2026-01-01T00:00:00.000Z", 1.5)])],
        returned=1,
        truncated=False,
    )
    data = json.loads(result.model_dump_json())
    assert data["series"][0]["values"] == [["2026-01-01T00:00:00.000Z", 1.5]]
    assert data["series"][0]["value"] is None and data["points_omitted"] == 0


def test_correlated_trace_defaults_for_not_found() -> None:
    data = CorrelatedTrace(trace_id=VALID_ID, found=False, hint="h").model_dump()
    assert data["spans"] == [] and data["red"] == [] and data["orphan_logs"] == []
    assert (data["span_count"], data["spans_omitted"], data["log_count"]) == (0, 0, 0)


def test_span_status_is_a_closed_set() -> None:
    base = {
        "span_id": "a", "parent_span_id": None, "depth": 0, "service": "s", "operation": "o",
        "kind": "server", "start_offset_ms": 0.0, "duration_ms": 1.0,
    }  # fmt: skip
    assert SpanNode.model_validate({**base, "status": "error"}).status == "error"
    with pytest.raises(ValueError):
        SpanNode.model_validate({**base, "status": "failed"})


def test_bounded_results_require_returned_and_truncated() -> None:
    schema = LogsResult.model_json_schema()
    assert {"returned", "truncated", "rows", "query", "window"} <= set(schema["required"])
    assert "hint" not in schema["required"]
