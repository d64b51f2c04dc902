"""error_rate and RED snapshots: exact figures over every request (see core/requests.py)."""

from __future__ import annotations

from dataclasses import dataclass

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.core.percentiles import (
    PERCENTILE_SHORT,
    ExactStats,
    GroupStats,
    exact_stats,
)
from obs_mcp.core.requests import (
    REQUEST_DEFINITION_SHORT,
    REQUEST_ERROR,
    entry_spans,
    store_window,
)
from obs_mcp.models import ErrorRateResult, OperationRate, RedSnapshot
from obs_mcp.queries import check_name
from obs_mcp.timeparse import Window, resolve_window

MAX_OPERATIONS = 30
ERRORS = {"errors": REQUEST_ERROR}


def ms(nanos: int | None) -> float | None:
    return None if nanos is None else round(nanos / 1e6, 3)


@dataclass
class RequestFigures:
    """A service's requests in a window: overall and for its busiest operations."""

    overall: GroupStats
    operations: list[tuple[str, GroupStats]]
    operations_total: int  # distinct operations, shown or not
    exact: bool
    note: str | None


async def ranked_operations(backends: Backends, selector: str, window: Window) -> list[str]:
    """Every operation of the selected requests: most errors first, then most requests."""
    query = f"{selector} | stats by (name) count() n, count() if ({REQUEST_ERROR}) e"
    rows = await backends.traces.query(query, window)
    counts = {r.get("name", ""): (int(r.get("e") or 0), int(r.get("n") or 0)) for r in rows}
    return _ranked(counts)


def rank_operations(groups: dict[str, GroupStats]) -> list[str]:
    """The same order from an exact grouped computation's counts (no query of its own)."""
    return _ranked({n: (g.counts.get("errors", 0), g.total) for n, g in groups.items()})


def _ranked(counts: dict[str, tuple[int, int]]) -> list[str]:
    """Names by (errors, requests), most first, then by name: one order everywhere."""
    return sorted(counts, key=lambda n: (-counts[n][0], -counts[n][1], n))


async def request_figures(
    backends: Backends,
    service: str,
    window: Window,
    operation: str | None = None,
    extra: str | None = None,
    by_operation: bool = True,
) -> RequestFigures:
    """Exact counts and percentiles; operations sorted by errors, then requests.

    One grouped computation covers both overall and per-operation figures when the service
    has at most MAX_OPERATIONS operations; beyond that the overall figures come from a
    computation of their own, so they still cover every request.
    """
    selector = " ".join(filter(None, [entry_spans(service, window, operation), extra]))
    window = store_window(window)  # the selector filters the exact end times
    if not by_operation:
        single = await exact_stats(backends.traces, selector, window, count_if=ERRORS)
        return RequestFigures(single.overall, [], 0, single.exact, single.note)
    # Most services have few operations: one grouped computation gives every operation's
    # counts (so their ranking) and percentiles at once, with no separate names query.
    grouped = await exact_stats(backends.traces, selector, window, group_by="name", count_if=ERRORS)
    names = rank_operations(grouped.groups)
    shown = names[:MAX_OPERATIONS]
    overall: ExactStats = grouped
    if len(names) > MAX_OPERATIONS:
        grouped, overall = await gather_all(
            lambda: exact_stats(
                backends.traces, selector, window, group_by="name", groups=shown, count_if=ERRORS
            ),
            lambda: exact_stats(backends.traces, selector, window, count_if=ERRORS),
        )
    operations = [(name, grouped.groups[name]) for name in shown if name in grouped.groups]
    notes = [n for n in (overall.note, grouped.note) if n]
    return RequestFigures(
        overall=overall.overall,
        operations=operations,
        operations_total=len(names),
        exact=overall.exact and grouped.exact,
        note=notes[0] if notes else None,
    )


def operation_rate(name: str, group: GroupStats) -> OperationRate:
    errors = group.counts.get("errors", 0)
    return OperationRate(
        operation=name,
        total=group.total,
        errors=errors,
        error_rate=round(errors / group.total, 6) if group.total else 0.0,
        p50_ms=ms(group.percentiles.get("p50")),
        p95_ms=ms(group.percentiles.get("p95")),
        p99_ms=ms(group.percentiles.get("p99")),
    )


async def error_rate(
    backends: Backends,
    service: str,
    since: str | None = "5m",
    start: str | None = None,
    end: str | None = None,
    operation: str | None = None,
) -> ErrorRateResult:
    check_name(service, "service")
    if operation is not None:
        check_name(operation, "operation")
    window = resolve_window(since, start, end, default_since="5m")
    figures = await request_figures(backends, service, window, operation)
    total = figures.overall.total
    errors = figures.overall.counts.get("errors", 0)
    hint = None
    if total == 0:
        what = f"service {service!r}" + (f" and operation {operation!r}" if operation else "")
        hint = await unknown_service_hint(backends, service, window, f"No requests of {what}")
    elif figures.operations_total > MAX_OPERATIONS:
        hint = (
            f"Showing the {MAX_OPERATIONS} of {figures.operations_total} operations with most "
            "errors (then requests); the overall figures cover all. Pass operation=... for one."
        )
    return ErrorRateResult(
        service=service,
        window=window.describe(),
        source=(
            f"VictoriaTraces LogsQL over all {total} requests of the window (exact counts, "
            "not a sample of traces); " + REQUEST_DEFINITION_SHORT + "; " + PERCENTILE_SHORT
        ),
        total=total,
        errors=errors,
        error_rate=round(errors / total, 6) if total else 0.0,
        p50_ms=ms(figures.overall.percentiles.get("p50")),
        p95_ms=ms(figures.overall.percentiles.get("p95")),
        p99_ms=ms(figures.overall.percentiles.get("p99")),
        percentiles_exact=figures.exact,
        percentiles_note=figures.note,
        operations=[operation_rate(name, group) for name, group in figures.operations],
        operations_returned=len(figures.operations),
        operations_truncated=figures.operations_total > len(figures.operations),
        hint=hint,
    )


async def red_snapshot(backends: Backends, service: str, window: Window) -> RedSnapshot:
    figures = await request_figures(backends, service, window, by_operation=False)
    return red_of(service, window, figures)


def red_of(service: str, window: Window, figures: RequestFigures) -> RedSnapshot:
    total, errors = figures.overall.total, figures.overall.counts.get("errors", 0)
    return RedSnapshot(
        service=service,
        window=window.describe(),
        requests=total,
        rate_per_s=round(total / window.seconds, 4) if window.seconds else 0.0,
        errors=errors,
        error_ratio=round(errors / total, 6) if total else 0.0,
        p95_ms=ms(figures.overall.percentiles.get("p95")),
        percentiles_exact=figures.exact,
    )
