"""What a report shows, read from the stores with the same core functions as the tools.

A pair (two windows or two run ids, as compare_runs takes them) gives the verdict and
both sides; a single window gives error_rate's figures and one side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from obs_mcp.core.backends import Backends
from obs_mcp.core.compare import Side, compare_runs, resolve_sides
from obs_mcp.core.correlate import correlate_trace
from obs_mcp.core.distribution import latency_histogram, slowest_requests
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.red import error_rate
from obs_mcp.core.signatures import top_errors
from obs_mcp.core.timeseries import request_series
from obs_mcp.models import (
    CompareResult,
    CorrelatedTrace,
    DurationBucket,
    ErrorRateResult,
    RequestSeries,
    SlowRequest,
    TopErrorsResult,
)
from obs_mcp.timeparse import Window, resolve_window, rfc3339

SERIES_BUCKETS = 20  # per side: trends, not noise
TOP_SIGNATURES = 8
TRACE_TOKENS = 12_000


@dataclass
class SideData:
    label: str  # "baseline", "current" or "window"
    describe: str
    series: RequestSeries
    histogram: list[DurationBucket]
    slowest: list[SlowRequest]


@dataclass
class ReportData:
    service: str
    generated: str
    sides: list[SideData]
    errors: TopErrorsResult
    compare: CompareResult | None = None
    figures: ErrorRateResult | None = None
    slowest: SlowRequest | None = None
    trace: CorrelatedTrace | None = None


@dataclass(frozen=True)
class Sides:
    """The windows asked for: a before/after pair, or one window."""

    baseline_start: str | None = None
    baseline_end: str | None = None
    current_start: str | None = None
    current_end: str | None = None
    baseline_run: str | None = None
    current_run: str | None = None
    since: str | None = None
    start: str | None = None
    end: str | None = None

    @property
    def is_pair(self) -> bool:
        return any(
            v is not None
            for v in (self.baseline_start, self.baseline_end, self.baseline_run, self.current_run)
        )


async def _side(
    backends: Backends, service: str, label: str, side: Side, operation: str | None
) -> SideData:
    extra = side.run_filter()
    series, histogram, slowest = await gather_all(
        lambda: request_series(backends, service, side.window, operation,
                               buckets=SERIES_BUCKETS, extra=extra),
        lambda: latency_histogram(backends, service, side.window, extra),
        lambda: slowest_requests(backends, service, side.window, extra),
    )  # fmt: skip
    return SideData(label, side.describe(), series, histogram, slowest)


async def gather_report(
    backends: Backends, service: str, sides: Sides, operation: str | None = None
) -> ReportData:
    generated = rfc3339(datetime.now(UTC))
    compared: CompareResult | None = None
    figures: ErrorRateResult | None = None
    if sides.is_pair:
        base, cur = resolve_sides(
            sides.baseline_start, sides.baseline_end, sides.current_start, sides.current_end,
            sides.baseline_run, sides.current_run,
        )  # fmt: skip
        compared, *side_data = await gather_all(
            lambda: compare_runs(
                backends,
                service,
                sides.baseline_start,
                sides.baseline_end,
                sides.current_start,
                sides.current_end,
                sides.baseline_run,
                sides.current_run,
                operation,
            ),
            lambda: _side(backends, service, "baseline", base, operation),
            lambda: _side(backends, service, "current", cur, operation),
        )
        span = Window(
            min(base.window.start, cur.window.start), max(base.window.end, cur.window.end)
        )
    else:
        span = resolve_window(sides.since, sides.start, sides.end, default_since="15m")
        one = Side(span, None)
        figures, single = await gather_all(
            lambda: error_rate(
                backends, service, None, rfc3339(span.start), rfc3339(span.end), operation
            ),
            lambda: _side(backends, service, "window", one, operation),
        )
        side_data = [single]
    errors = await top_errors(
        backends, service, None, rfc3339(span.start), rfc3339(span.end), TOP_SIGNATURES
    )
    candidates = [s for side in side_data for s in side.slowest]
    slowest = max(candidates, key=lambda s: s.duration_ms) if candidates else None
    trace = None
    if slowest is not None and slowest.trace_id:
        trace = await correlate_trace(backends, slowest.trace_id, max_tokens=TRACE_TOKENS)
    return ReportData(
        service=service, generated=generated, sides=side_data, errors=errors,
        compare=compared, figures=figures, slowest=slowest, trace=trace,
    )  # fmt: skip
