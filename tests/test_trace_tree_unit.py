"""Pure parts of the figures: store times as integers, nearest ranks, the span tree (order,
self time, critical path, repeats) and correlate_trace's budgeted selection."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from obs_mcp.core.correlate import _View, fit, latency_summary, select_logs
from obs_mcp.core.percentiles import nearest_rank
from obs_mcp.core.trace_tree import build, collapse_repeats
from obs_mcp.models import CorrelatedTrace, SpanLog, compact_json
from obs_mcp.timeparse import rfc3339_ns, store_time_ns

BASE = 1_796_209_207_000_000_000  # 2026-12-02T11:00:07Z


# ---- time as numbers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2026-12-02T11:00:07Z", BASE),
        ("2026-12-02T11:00:07.5Z", BASE + 500_000_000),
        ("2026-12-02T11:00:07.12Z", BASE + 120_000_000),
        ("2026-12-02T11:00:07.123Z", BASE + 123_000_000),
        ("2026-12-02T11:00:07.123400Z", BASE + 123_400_000),
        ("2026-12-02T11:00:07.000000001Z", BASE + 1),
        ("2026-12-02T12:00:07.25+01:00", BASE + 250_000_000),
        (str(BASE + 7), BASE + 7),
    ],
)
def test_store_time_ns(text: str, nanos: int) -> None:
    assert store_time_ns(text) == nanos


def test_store_times_sort_as_times_where_their_strings_do_not() -> None:
    texts = ["2026-12-02T11:00:07Z", "2026-12-02T11:00:06.999Z", "2026-12-02T11:00:07.0004Z"]
    assert sorted(texts) != sorted(texts, key=store_time_ns)  # the trap: '.' < 'Z'
    assert sorted(texts, key=store_time_ns) == [texts[1], texts[0], texts[2]]


def test_answers_show_microseconds() -> None:
    assert rfc3339_ns(BASE + 400_000) == "2026-12-02T11:00:07.000400Z"
    assert rfc3339_ns(BASE) == "2026-12-02T11:00:07.000000Z"


def test_select_logs_orders_by_time_not_text() -> None:
    rows = [
        {"_time": "2026-12-02T11:00:07Z", "_msg": "b", "severity_text": "INFO"},
        {"_time": "2026-12-02T11:00:06.9995Z", "_msg": "a", "severity_text": "INFO"},
        {"_time": "2026-12-02T11:00:07.0004Z", "_msg": "c", "severity_text": "ERROR"},
    ]
    assert [r["_msg"] for r in select_logs(rows, 3)] == ["a", "b", "c"]
    assert [r["_msg"] for r in select_logs(rows, 1)] == ["c"]  # errors first


# ---- ranks ----------------------------------------------------------------------------------
def test_nearest_rank_in_integers() -> None:
    assert nearest_rank(Fraction(95, 100), 100) == 95  # not 96 from 0.95 * 100 in floats
    assert nearest_rank(Fraction(1, 2), 1) == 1
    assert nearest_rank(Fraction(99, 100), 101) == 100
    for n in range(1, 500):
        values = list(range(n))
        rank = nearest_rank(Fraction(95, 100), n)
        # at least 95% of the values are <= the chosen one, and no smaller value qualifies
        assert 100 * rank >= 95 * n > 100 * (rank - 1)
        assert values[rank - 1] == values[-1 - (n - rank)]


# ---- the tree -------------------------------------------------------------------------------
def row(
    sid: str,
    parent: str = "",
    start: int = 0,
    end: int = 10,
    service: str = "api",
    name: str = "op",
    **extra: str,
) -> dict[str, str]:
    out = {
        "span_id": sid,
        "parent_span_id": parent,
        "start_time_unix_nano": str(BASE + start * 1_000_000),
        "end_time_unix_nano": str(BASE + end * 1_000_000),
        "resource_attr:service.name": service,
        "name": name,
        "kind": "1",
    }
    out.update(extra)
    return out


def test_depth_first_order_orphans_and_cycles() -> None:
    tree = build([
        row("c2", "r", 30, 40),
        row("r", "", 10, 50),
        row("c1", "r", 20, 28),
        row("g1", "c1", 25, 26),
        row("orphan", "missing-parent", 5, 6),  # parent not in the trace: a root
        row("self", "self", 40, 41),  # a span that names itself as parent must not loop
        row("x", "y", 60, 61),
        row("y", "x", 62, 63),  # a parent cycle: one of them becomes a root
    ])  # fmt: skip
    order = [(s.span_id, s.depth) for s in tree.spans]
    assert order[:5] == [("orphan", 0), ("r", 0), ("c1", 1), ("g1", 2), ("c2", 1)]
    assert {sid for sid, _ in order} == {"c2", "r", "c1", "g1", "orphan", "self", "x", "y"}


def test_self_time_and_critical_path() -> None:
    # r 0..100: a 10..40 (with a child 15..25), b 30..60 overlapping a, c 70..90
    tree = build([
        row("r", "", 0, 100),
        row("a", "r", 10, 40),
        row("a1", "a", 15, 25),
        row("b", "r", 30, 60),
        row("c", "r", 70, 90),
    ])  # fmt: skip
    spans = tree.by_id
    assert spans["r"].self_ns == (100 - (60 - 10) - (90 - 70)) * 1_000_000
    assert spans["a"].self_ns == 20 * 1_000_000
    # from the end: c finishes last, then b (ends 60 before c starts), then nothing ends
    # before b starts except... a ends at 40 > 30, so a is not on the path
    assert {s for s, span in spans.items() if span.critical} == {"r", "c", "b"}


def test_repeated_siblings_collapse_but_never_an_error_or_its_ancestors() -> None:
    rows = [row("h", "", 0, 200, name="GET /cart")]
    rows += [row(f"q{i}", "h", 5 + 7 * i, 10 + 7 * i, name="SELECT items") for i in range(25)]
    rows += [row("bad", "h", 190, 195, name="SELECT items", status_code="2")]
    rows += [row("w1", "h", 1, 2, name="wrap"), row("w2", "h", 2, 3, name="wrap")]
    tree = build(rows)
    heads = collapse_repeats(tree)
    assert [h.span_id for h in heads] == ["q0"]
    assert len(heads[0].repeat) == 25
    visible = {s.span_id for s in tree.visible()}
    assert visible == {"h", "q0", "bad", "w1", "w2"}  # two of a kind stay as they are
    summary = latency_summary(tree, heads)
    assert summary.repeated[0].count == 25
    assert summary.repeated[0].total_ms == 125.0  # 25 x 5 ms


# ---- the budget -----------------------------------------------------------------------------
def _trace(n: int, long_attrs: bool = False) -> list[dict[str, str]]:
    """A batch job: one root, n-1 children in 40 operations, 3 failing with a stack trace."""
    rng = random.Random(7)
    rows = [row("root", "", 0, n * 2, name="job")]
    for i in range(1, n):
        extra: dict[str, str] = {}
        if long_attrs:
            extra["span_attr:db.query.text"] = "SELECT " + ", ".join(f"col{j}" for j in range(80))
        if i in (10, 500, 1500):
            extra |= {
                "status_code": "2",
                "event:event_name:0": "exception",
                "event:event_attr:exception.type:0": "ValueError",
                "event:event_attr:exception.message:0": f"bad row {i}",
                "event:event_attr:exception.stacktrace:0": "Traceback\n" + "  frame\n" * 300,
            }
        start = rng.randrange(0, n * 2 - 2)
        rows.append(row(f"s{i}", "root", start, start + 1, name=f"t{i % 40}", **extra))
    return rows


@pytest.mark.parametrize("long_attrs", [False, True])
@pytest.mark.parametrize("budget", [1000, 8000, 25000])
def test_fit_never_exceeds_the_budget_and_keeps_root_and_errors(
    long_attrs: bool, budget: int
) -> None:
    rows = _trace(2000, long_attrs)
    tree = build(rows)
    collapse_repeats(tree)
    main = tree.roots[0]
    errors = {s.span_id for s in tree.spans if s.error}
    view = _View(tree, {r["span_id"]: r for r in rows}, {}, main.start, errors)
    result = CorrelatedTrace(
        trace_id="a" * 32, found=True, span_count=len(rows), error_count=3, budget_tokens=budget
    )
    fit(result, view, main, 5000, [])
    assert len(compact_json(result)) <= budget * 4
    shown = {s.span_id for s in result.spans}
    assert "root" in shown
    if budget >= 8000:
        assert errors <= shown
    represented = sum(s.repeat.count - 1 for s in result.spans if s.repeat)
    omitted = sum(g.count for g in result.omitted)
    assert len(result.spans) + represented + omitted == len(rows)  # nothing vanishes
    assert result.spans_omitted == omitted


def test_fit_keeps_40_error_spans_with_their_logs_in_8k_tokens() -> None:
    """The benchmark's fan-out shape: 2,000 spans, 40 errors, two log lines per error span."""
    rows = [row("root", "", 0, 5000, name="GET /report")]
    parents = ["root"]
    errors: set[str] = set()
    for i in range(1, 2000):
        parent = parents[(i - 1) // 10]
        extra = {}
        if i % 50 == 7:
            extra = {
                "status_code": "2",
                "event:event_name:0": "exception",
                "event:event_attr:exception.type:0": "TimeoutError",
                "event:event_attr:exception.message:0": f"upstream timeout in step {i}",
                "event:event_attr:exception.stacktrace:0": "Traceback\n" + "  frame\n" * 200,
            }
            errors.add(f"s{i}")
        rows.append(row(f"s{i}", parent, i, i + 2, name=f"step {i % 13}", **extra))
        parents.append(f"s{i}")
    tree = build(rows)
    collapse_repeats(tree)
    logs = {
        s.span_id: [
            SpanLog(time=rfc3339_ns(s.start), severity="INFO", message=f"handling {s.span_id}"),
            *(
                [SpanLog(time=rfc3339_ns(s.end), severity="ERROR", message="failed: timeout")]
                if s.error
                else []
            ),
        ]
        for s in tree.spans
    }
    main = tree.roots[0]
    view = _View(tree, {r["span_id"]: r for r in rows}, logs, main.start, set(list(errors)[:10]))
    result = CorrelatedTrace(
        trace_id="b" * 32, found=True, span_count=2000, error_count=40, budget_tokens=8000
    )
    fit(result, view, main, 5000, [])
    assert len(compact_json(result)) <= 8000 * 4
    shown = {s.span_id: s for s in result.spans}
    assert errors <= set(shown) and "root" in shown
    assert all(any(lg.severity == "ERROR" for lg in shown[e].logs) for e in errors)
    assert result.warnings == []


def test_ends_in_compares_exact_integer_nanoseconds() -> None:
    from datetime import UTC, datetime

    from obs_mcp.core.requests import REQUEST_SLACK, ends_in, store_window
    from obs_mcp.timeparse import Window

    window = Window(
        datetime(2026, 12, 2, 11, 0, 7, 123456, tzinfo=UTC),
        datetime(2026, 12, 2, 11, 5, 0, tzinfo=UTC),
    )
    low, high = BASE + 123_456_000, BASE + 293_000_000_000
    assert ends_in(window) == f'end_time_unix_nano:string_range("{low}", "{high}")'
    assert len(str(low)) == len(str(high)) == 19  # equal widths: text order = number order
    assert store_window(window).start == window.start - REQUEST_SLACK
