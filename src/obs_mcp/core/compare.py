"""compare_runs: a before/after verdict ("18.7% -> 0%") with the statistics that back it.

Both sides are exact LogsQL stats over ALL server spans of a window or of a run id
(`span_attr:run.id`). The verdict only calls a change significant past stated thresholds,
so an agent cannot claim a fix from noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.fields import RESOURCE_ATTR, SERVICE, SPAN_ATTR
from obs_mcp.core.latency_diff import sample_profile, span_changes
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.core.percentiles import GroupStats
from obs_mcp.core.red import MAX_OPERATIONS, ms, request_figures
from obs_mcp.core.requests import server_kinds
from obs_mcp.core.signatures import Group, collect, error_spans_of
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import CompareResult, OperationCompare, SideStats, SignatureChange
from obs_mcp.queries import check_name, logsql_exact
from obs_mcp.timeparse import Window, parse_instant, resolve_window

Verdict = Literal["improved", "regressed", "mixed", "unchanged", "insufficient_data"]
RUN_ID = "run.id"  # a span attribute, or a resource attribute (what `obs-mcp run` sets)
RUN_LOOKBACK = timedelta(hours=24)
MIN_REQUESTS = 20
Z_MIN = 2.0
RATE_MIN_CHANGE = 0.005  # 0.5 percentage points
LATENCY_MIN_SAMPLES = 30
LATENCY_MIN_PCT = 20.0
LATENCY_MIN_MS = 1.0
MAX_SIGNATURES = 10
THRESHOLDS = (
    f"too few samples below {MIN_REQUESTS} requests per side; error rate: two-proportion "
    f"|z| >= {Z_MIN:g} and >= {RATE_MIN_CHANGE * 100:g} pp; p95: > {LATENCY_MIN_PCT:g}% and "
    f">= {LATENCY_MIN_MS:g} ms with >= {LATENCY_MIN_SAMPLES} requests per side"
)


def run_filter(run: str) -> str:
    """Spans of one run, whether the run id sits on the span or on its resource."""
    return (
        f"({logsql_exact(SPAN_ATTR + RUN_ID, run)} or {logsql_exact(RESOURCE_ATTR + RUN_ID, run)})"
    )


@dataclass(frozen=True)
class Side:
    window: Window
    run: str | None

    def describe(self) -> str:
        return self.window.describe() + (f" run.id={self.run}" if self.run else "")

    def run_filter(self) -> str | None:
        return run_filter(self.run) if self.run else None


@dataclass
class Measured:
    total: SideStats
    operations: dict[str, SideStats]
    errors: list[Group]
    exact: bool
    note: str | None


def side_stats(group: GroupStats, seconds: float | None) -> SideStats:
    errors = group.counts.get("errors", 0)
    return SideStats(
        requests=group.total,
        errors=errors,
        error_rate=round(errors / group.total, 6) if group.total else 0.0,
        per_s=round(group.total / seconds, 4) if seconds else None,
        p50_ms=ms(group.percentiles.get("p50")),
        p95_ms=ms(group.percentiles.get("p95")),
        p99_ms=ms(group.percentiles.get("p99")),
    )


async def _seconds(backends: Backends, service: str, side: Side) -> float | None:
    """A time window's length, or for a run the span of its requests' actual times."""
    if not side.run:
        return side.window.seconds
    query = (
        f"{logsql_exact(SERVICE, service)} {server_kinds()} {side.run_filter()} "
        "| stats min(start_time_unix_nano) st, max(end_time_unix_nano) et"
    )
    rows = await backends.traces.query(query, side.window)
    row = rows[0] if rows else {}
    start, end = int(row.get("st") or 0), int(row.get("et") or 0)
    return (end - start) / 1e9 if start and end > start else None


async def _measure(backends: Backends, service: str, side: Side, operation: str | None) -> Measured:
    error_filter = " ".join(
        p for p in (side.run_filter(), operation and logsql_exact("name", operation)) if p
    )
    figures, errors, seconds = await gather_all(
        lambda: request_figures(backends, service, side.window, operation, side.run_filter()),
        lambda: collect(backends, error_spans_of(service, error_filter or None), side.window),
        lambda: _seconds(backends, service, side),
    )
    return Measured(
        total=side_stats(figures.overall, seconds),
        operations={name: side_stats(g, seconds) for name, g in figures.operations},
        errors=errors[0],
        exact=figures.exact,
        note=figures.note,
    )


def two_proportion_z(e1: int, n1: int, e2: int, n2: int) -> float | None:
    """z of (p2 - p1) with the pooled standard error; 0 when both rates are 0% or 100%."""
    if not n1 or not n2:
        return None
    pooled = (e1 + e2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.0 if se == 0 else round((e2 / n2 - e1 / n1) / se, 3)


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def verdict(b: SideStats, c: SideStats) -> tuple[Verdict, list[str], float | None, float | None]:
    """(verdict, reasons, z, p95 change %) under the THRESHOLDS rules."""
    z = two_proportion_z(b.errors, b.requests, c.errors, c.requests)
    p95_pct = None
    if b.p95_ms and c.p95_ms is not None:
        p95_pct = round((c.p95_ms - b.p95_ms) / b.p95_ms * 100, 1)
    if b.requests < MIN_REQUESTS or c.requests < MIN_REQUESTS:
        return (
            "insufficient_data",
            [
                f"too few samples: {b.requests} baseline and {c.requests} current requests "
                f"(need >= {MIN_REQUESTS} per side); do not claim a change"
            ],
            z,
            p95_pct,
        )
    better, worse, reasons = 0, 0, []
    change = c.error_rate - b.error_rate
    rates = (
        f"error rate {_pct(b.error_rate)} -> {_pct(c.error_rate)} "
        f"({b.errors}/{b.requests} -> {c.errors}/{c.requests}, z={z})"
    )
    if z is not None and abs(z) >= Z_MIN and abs(change) >= RATE_MIN_CHANGE:
        better, worse = (better + 1, worse) if change < 0 else (better, worse + 1)
        reasons.append(f"{rates}: significant {'drop' if change < 0 else 'rise'}")
    else:
        reasons.append(f"{rates}: not a significant change")
    if p95_pct is not None and b.p95_ms is not None and c.p95_ms is not None:
        lat = f"p95 {b.p95_ms:g} -> {c.p95_ms:g} ms ({p95_pct:+g}%)"
        enough = min(b.requests, c.requests) >= LATENCY_MIN_SAMPLES
        big = abs(p95_pct) > LATENCY_MIN_PCT and abs(c.p95_ms - b.p95_ms) >= LATENCY_MIN_MS
        if enough and big:
            better, worse = (better + 1, worse) if p95_pct < 0 else (better, worse + 1)
            reasons.append(f"{lat}: significant {'speed-up' if p95_pct < 0 else 'slow-down'}")
        else:
            why = "too few samples" if not enough else "within noise"
            reasons.append(f"{lat}: not significant ({why})")
    name: Verdict = "unchanged"
    if better or worse:
        name = "mixed" if better and worse else "improved" if better else "regressed"
    return name, reasons, z, p95_pct


def _signature_changes(
    base: list[Group], cur: list[Group]
) -> tuple[list[SignatureChange], list[SignatureChange], list[SignatureChange]]:
    counts: dict[str, list[int]] = {}
    for index, groups in enumerate((base, cur)):
        for g in groups:
            counts.setdefault(g.label, [0, 0])[index] += g.count
    items = sorted(counts.items(), key=lambda kv: (-abs(kv[1][1] - kv[1][0]), kv[0]))
    changes = [SignatureChange(signature=k, baseline=v[0], current=v[1]) for k, v in items]
    new = [s for s in changes if not s.baseline][:MAX_SIGNATURES]
    gone = [s for s in changes if not s.current][:MAX_SIGNATURES]
    changed = [s for s in changes if s.baseline and s.current and s.baseline != s.current]
    return new, gone, changed[:MAX_SIGNATURES]


def _window(
    start: str | None, end: str | None, run: str | None, what: str, default_end: datetime | None
) -> Window:
    """A run's window defaults to the 24h before its end; a time window needs both ends
    unless `default_end` fills in the end."""
    end_at = parse_instant(end, f"{what}_end") if end else default_end
    if run:
        end_at = end_at or datetime.now(UTC)
        start_at = parse_instant(start, f"{what}_start") if start else end_at - RUN_LOOKBACK
    elif start and end_at:
        start_at = parse_instant(start, f"{what}_start")
    else:
        raise InvalidArgument(f"give {what}_start and {what}_end (or {what}_run, a run id)")
    return resolve_window(None, start_at.timestamp(), end_at.timestamp())


def resolve_sides(
    baseline_start: str | None,
    baseline_end: str | None,
    current_start: str | None,
    current_end: str | None,
    baseline_run: str | None,
    current_run: str | None,
    now: datetime | None = None,
) -> tuple[Side, Side]:
    """Baseline by time or run id; current defaults to [baseline_end, now]."""
    now = now or datetime.now(UTC)
    for run, what in ((baseline_run, "baseline_run"), (current_run, "current_run")):
        if run is not None:
            check_name(run, what)
    base_window = _window(
        baseline_start, baseline_end, baseline_run, "baseline", now if baseline_run else None
    )
    if not current_run and not current_start:
        if not baseline_end:
            raise InvalidArgument("give current_start (or baseline_end, or current_run)")
        current_start = baseline_end
    current = Side(_window(current_start, current_end, current_run, "current", now), current_run)
    return Side(base_window, baseline_run), current


async def _empty_side_hint(
    backends: Backends, service: str, sides: tuple[tuple[Side, Measured], ...]
) -> str | None:
    """For the first side without requests: did you mean (a mistyped service), else which
    window or run id to check."""
    for (side, measured), which in zip(sides, ("baseline", "current"), strict=True):
        if measured.total.requests:
            continue
        problem = f"No requests of {service!r} on the {which} side"
        if side.run:
            problem += f" (run.id={side.run})"
        named = await unknown_service_hint(backends, service, side.window, problem)
        return (
            f"{named} Check the windows/run ids; run ids match the span or resource "
            "attribute run.id."
        )
    return None


async def compare_runs(
    backends: Backends,
    service: str,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
    current_start: str | None = None,
    current_end: str | None = None,
    baseline_run: str | None = None,
    current_run: str | None = None,
    operation: str | None = None,
) -> CompareResult:
    check_name(service, "service")
    if operation is not None:
        check_name(operation, "operation")
    base_side, cur_side = resolve_sides(
        baseline_start, baseline_end, current_start, current_end, baseline_run, current_run
    )
    base, cur, base_profile, cur_profile = await gather_all(
        lambda: _measure(backends, service, base_side, operation),
        lambda: _measure(backends, service, cur_side, operation),
        lambda: sample_profile(
            backends, service, base_side.window, base_side.run_filter(), operation
        ),
        lambda: sample_profile(
            backends, service, cur_side.window, cur_side.run_filter(), operation
        ),
    )
    name, reasons, z, p95_pct = verdict(base.total, cur.total)
    new, gone, changed = _signature_changes(base.errors, cur.errors)
    reasons += [f"new error: {s.signature} ({s.current}x)" for s in new[:3]]
    changes = span_changes(base_profile, cur_profile)
    if changes and any("speed-up" in r or "slow-down" in r for r in reasons):
        reasons.append(f"biggest change inside requests: {changes[0].summary}")
    empty = SideStats(requests=0, errors=0, error_rate=0.0, per_s=None, p50_ms=None,
                      p95_ms=None, p99_ms=None)  # fmt: skip
    names = sorted(
        set(base.operations) | set(cur.operations),
        key=lambda n: (
            -(base.operations.get(n, empty).requests + cur.operations.get(n, empty).requests)
        ),
    )
    hint = await _empty_side_hint(backends, service, ((base_side, base), (cur_side, cur)))
    return CompareResult(
        service=service,
        verdict=name,
        reasons=reasons,
        thresholds=THRESHOLDS,
        baseline_window=base_side.describe(),
        current_window=cur_side.describe(),
        baseline=base.total,
        current=cur.total,
        error_rate_change=round(cur.total.error_rate - base.total.error_rate, 6),
        error_rate_z=z,
        p95_change_pct=p95_pct,
        operations=[
            OperationCompare(
                operation=n,
                baseline=base.operations.get(n, empty),
                current=cur.operations.get(n, empty),
            )
            for n in names[:MAX_OPERATIONS]
        ],
        percentiles_exact=base.exact and cur.exact,
        percentiles_note=base.note or cur.note,
        new_errors=new,
        gone_errors=gone,
        changed_errors=changed,
        p95_moved=_p95_moved(base.operations, cur.operations),
        span_changes=changes,
        span_changes_basis=(
            f"the {base_profile.requests} and {cur_profile.requests} newest requests of each "
            "side, whole subtrees (every service below them)"
            if base_profile.requests and cur_profile.requests
            else None
        ),
        hint=hint,
    )


def _p95_moved(base: dict[str, SideStats], cur: dict[str, SideStats]) -> list[str]:
    """Operations whose p95 moved past the same thresholds the verdict uses."""
    moved: list[tuple[float, str]] = []
    for name in set(base) & set(cur):
        b, c = base[name], cur[name]
        if b.p95_ms is None or c.p95_ms is None or not b.p95_ms:
            continue
        pct = (c.p95_ms - b.p95_ms) / b.p95_ms * 100
        enough = min(b.requests, c.requests) >= LATENCY_MIN_SAMPLES
        if enough and abs(pct) > LATENCY_MIN_PCT and abs(c.p95_ms - b.p95_ms) >= LATENCY_MIN_MS:
            moved.append((-abs(pct), f"{name}: p95 {b.p95_ms:g} -> {c.p95_ms:g} ms ({pct:+.0f}%)"))
    return [text for _, text in sorted(moved)[:MAX_SIGNATURES]]
