"""request_series on the real stack: per-bucket requests, errors and exact percentiles equal
the figures computed from the emission plan (tests/picture_telemetry.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from obs_mcp.core import timeseries
from obs_mcp.core.backends import open_backends
from obs_mcp.core.red import error_rate
from obs_mcp.core.timeseries import request_series, step_for, upper_edge_ns
from obs_mcp.errors import InvalidArgument
from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import Window, from_unix_nanos, rfc3339
from tests.foreign_shapes import PHIS
from tests.picture_telemetry import (
    GET,
    POST,
    STEP_S,
    Edges,
    S,
    Trend,
    emit_edges,
    nearest_rank_ms,
)

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("tools_on_stack")]


def whole(trend: Trend) -> Window:
    """All twelve buckets, and a little before and after (empty buckets at both ends)."""
    return Window(from_unix_nanos(trend.base - 5 * S), from_unix_nanos(trend.current[1] + 15 * S))


def test_step_is_round_and_bounded() -> None:
    start = from_unix_nanos(1_800_000_000 * S)
    quarter = Window(start, start + timedelta(minutes=15))  # both ends' buckets count
    assert (step_for(quarter, 61), step_for(quarter, 60), step_for(quarter, 31)) == (15, 30, 30)
    assert step_for(Window(start, start + timedelta(days=31)), 60) == 86400
    assert upper_edge_ns(0) == 1  # floor(ln(d+1)*20) == 0 only for d == 0


async def test_every_bucket_matches_the_plan(trend: Trend) -> None:
    async with open_backends() as backends:
        series = await request_series(backends, trend.service, whole(trend), buckets=20)
    assert series.step_s == STEP_S
    assert series.percentiles_exact, series.percentiles_note
    by_time = {p.time: p for p in series.points}
    assert len(series.points) == len(by_time) == 15  # 12 buckets + 1 before + 2 after
    for bucket in trend.buckets:
        point = by_time[rfc3339(from_unix_nanos(bucket.start))]
        assert (point.requests, point.errors) == (bucket.requests, bucket.errors)
        expected = bucket.percentiles()
        assert (point.p50_ms, point.p95_ms, point.p99_ms) == (
            expected["p50"],
            expected["p95"],
            expected["p99"],
        ), point
        assert point.exact
    planned = {rfc3339(from_unix_nanos(b.start)) for b in trend.buckets}
    empty = [p for p in series.points if p.time not in planned]
    assert len(empty) == 3 and all(p.requests == 0 and p.p95_ms is None for p in empty)
    assert sum(p.requests for p in series.points) == sum(b.requests for b in trend.buckets)


async def test_per_operation_series(trend: Trend) -> None:
    async with open_backends() as backends:
        series = await request_series(
            backends, trend.service, whole(trend), by_operation=True, buckets=20
        )
    assert [o.operation for o in series.operations] == [POST, GET]  # most errors first
    assert series.operations_total == 2
    for op in series.operations:
        by_time = {p.time: p for p in op.points}
        for bucket in trend.buckets:
            point = by_time[rfc3339(from_unix_nanos(bucket.start))]
            durations = bucket.by_operation[op.operation]
            assert point.requests == len(durations)
            assert point.errors == bucket.errors_by_operation.get(op.operation, 0)
            assert point.p95_ms == nearest_rank_ms(durations, PHIS["p95"])
    # the overall series is still every request
    assert sum(p.requests for p in series.points) == sum(b.requests for b in trend.buckets)


async def test_values_beyond_the_fetch_cap_are_labelled_bucket_edges(
    trend: Trend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No read-back at all: every percentile is its log bucket's upper edge, and says so."""
    monkeypatch.setattr(timeseries, "FETCH_CAP", 0)
    async with open_backends() as backends:
        series = await request_series(backends, trend.service, whole(trend), buckets=20)
    assert not series.percentiles_exact
    assert "upper edge" in (series.percentiles_note or "")
    by_time = {p.time: p for p in series.points}
    for bucket in trend.buckets:
        point = by_time[rfc3339(from_unix_nanos(bucket.start))]
        assert not point.exact and point.requests == bucket.requests
        true = bucket.percentiles()["p95"]
        assert point.p95_ms is not None and true < point.p95_ms <= true * 1.052, (true, point)


async def test_unknown_service_and_bad_buckets(trend: Trend) -> None:
    async with open_backends() as backends:
        series = await request_series(backends, trend.service + "-nope", whole(trend))
        assert not any(p.requests for p in series.points)
        assert series.hint and trend.service in series.hint
        with pytest.raises(InvalidArgument, match="buckets"):
            await request_series(backends, trend.service, whole(trend), buckets=1000)


@pytest.fixture(scope="module")
def edges(native_stack: Stack) -> Edges:
    s = native_stack.settings
    return emit_edges(s.otlp_http_url, s.vt_url)


async def test_buckets_place_requests_by_end_and_sum_to_error_rate(edges: Edges) -> None:
    """The one window rule, bucket by bucket: a request is in the bucket (and the window) its
    entry span ENDS in, to the nanosecond, whatever time the store keeps as `_time`; the
    buckets of a window add up to error_rate's figures of that window exactly."""
    low, high = edges.window
    window = Window(from_unix_nanos(low), from_unix_nanos(high))
    async with open_backends() as backends:
        series = await request_series(backends, edges.service, window, buckets=20)
        figures = await error_rate(backends, edges.service, None, rfc3339(window.start),
                                   rfc3339(window.end))  # fmt: skip
    expected = edges.by_bucket(series.step_s)
    got = {p.time: p for p in series.points if p.requests}
    assert set(got) == {rfc3339(from_unix_nanos(t)) for t in expected}
    for start, rows in expected.items():
        point = got[rfc3339(from_unix_nanos(start))]
        assert (point.requests, point.errors) == (len(rows), sum(r[2] for r in rows)), point
        assert point.p95_ms == nearest_rank_ms([e - s for s, e, _ in rows], PHIS["p95"])
    inside = edges.inside()
    assert len(inside) < len(edges.requests)  # the edges are real: some end outside
    total = (sum(p.requests for p in series.points), sum(p.errors for p in series.points))
    assert total == (figures.total, figures.errors) == (len(inside), sum(r[2] for r in inside))
