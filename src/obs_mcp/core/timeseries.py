"""request_series: requests, errors and p50/p95/p99 per time bucket, counted by the store.

The same figures as error_rate, bucket by bucket (the terminal trends, the report and the
dashboards' checks all read this one function): requests are entry spans, errors
REQUEST_ERROR (core/requests.py), percentiles nearest rank (core/percentiles.py). A request
belongs to the bucket its span ENDS in (`end_time_unix_nano`, bucketed by the store in
integer nanoseconds), as it belongs to the window it ends in, so the buckets of a window sum
to error_rate's totals of that window exactly. Per bucket
the store counts every duration into the percentile engine's log buckets, which names the
log bucket holding each ranked value and its rank inside; those cells' durations are then
read back in one query and the ranked value picked. A cell that does not fit FETCH_CAP, or
whose rows changed between the two queries (data still arriving), gets its log bucket's
upper edge instead (at most ~5% above the true value), and the point and the answer say so;
rows that changed make the whole computation start again first (ATTEMPTS times).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather_all
from obs_mcp.core.names import unknown_service_hint
from obs_mcp.core.percentiles import (
    BUCKET,
    BUCKETS_PER_E,
    FETCH_CAP,
    MAX_GROUP_ROWS,
    PERCENTILE_SHORT,
    PHIS,
    nearest_rank,
)
from obs_mcp.core.red import ranked_operations
from obs_mcp.core.requests import (
    REQUEST_DEFINITION_SHORT,
    REQUEST_ERROR,
    entry_spans,
    store_window,
)
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import OperationSeries, RequestSeries, SeriesPoint
from obs_mcp.queries import check_name, logsql_in
from obs_mcp.timeparse import Window, from_unix_nanos, rfc3339

DEFAULT_BUCKETS = 60
MAX_BUCKETS = 240
MAX_SERIES_OPERATIONS = 8
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400)  # fmt: skip
NS = 1_000_000_000
END = "end_time_unix_nano"  # integer ns: the store buckets it exactly (`by (END:10s)`)
ATTEMPTS = 3
PAD = 1_000  # ns, far beyond float64's rounding of a unix-ns time
CHANGED = "rows changed between two queries, three times (data still arriving)"
ESTIMATE_NOTE = (
    "some buckets' percentiles are the upper edge of the ~5%-wide duration bucket that holds "
    "the nearest-rank value (the store's counts are exact; the values were not read back: "
    "{why}); those points carry exact=false"
)

Group = str | None  # an operation, or None for all requests
Cell = tuple[Group, int]  # (group, bucket start in unix ns)


def step_for(window: Window, buckets: int) -> int:
    """The smallest round step (seconds) that cuts the window into at most `buckets`."""
    start, end = int(window.start.timestamp()), int(window.end.timestamp())
    for step in NICE_STEPS:
        if end // step - start // step + 1 <= buckets:
            return step
    return max(NICE_STEPS[-1], math.ceil((end - start) / buckets))


def upper_edge_ns(bucket: int) -> int:
    """The exclusive upper bound of a log bucket: every duration in it is below this."""
    return math.ceil(math.exp((bucket + 1) / BUCKETS_PER_E) - 1)


def _n(raw: str | None) -> int:
    try:
        return int(float(raw or 0))
    except ValueError:
        return 0


@dataclass
class _Histogram:
    """Exact counts per (group, time bucket): requests, errors and (log bucket, count) pairs."""

    totals: dict[Cell, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    buckets: dict[Cell, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, cell: Cell, row: dict[str, str]) -> None:
        n = _n(row.get("obs_n"))
        self.totals[cell][0] += n
        self.totals[cell][1] += _n(row.get("obs_e"))
        try:
            index = int(float(row.get("obs_bucket", "")))
        except ValueError:
            return  # no duration: counted, not ranked
        self.buckets[cell][index] = self.buckets[cell].get(index, 0) + n


@dataclass
class _Target:
    cell: Cell
    name: str
    bucket: int
    offset: int  # 0-based rank inside the log bucket


class _Series:
    def __init__(self, backends: Backends, selector: str, window: Window, step: int) -> None:
        self.backends, self.selector, self.step = backends, selector, step
        self.window = store_window(window)  # the selector filters the exact end times

    def _start(self, row: dict[str, str]) -> int:
        """The bucket of a row, from its exact end time (integer ns, never through float)."""
        raw = row.get(END, "")
        return int(raw) // (self.step * NS) * self.step * NS if raw.isdigit() else 0

    async def histogram(self, names: list[str] | None, by_name: bool) -> tuple[_Histogram, bool]:
        """One stats query; (histogram, truncated)."""
        keys = f"{END}:{self.step}s, {'name, ' if by_name else ''}obs_bucket"
        base = self.selector + (f" {logsql_in('name', names)}" if names else "")
        query = (
            f"{base} | {BUCKET} | stats by ({keys}) count() obs_n, "
            f"count() if ({REQUEST_ERROR}) obs_e | limit {MAX_GROUP_ROWS + 1}"
        )
        rows = await self.backends.traces.query(query, self.window)
        hist = _Histogram()
        for row in rows[:MAX_GROUP_ROWS]:
            hist.add((row.get("name", "") if by_name else None, self._start(row)), row)
        return hist, len(rows) > MAX_GROUP_ROWS

    async def counts_only(self, names: list[str] | None) -> _Histogram:
        """Requests and errors per bucket without durations (when the histogram is too big)."""
        by = f"{END}:{self.step}s" + (", name" if names else "")
        base = self.selector + (f" {logsql_in('name', names)}" if names else "")
        query = f"{base} | stats by ({by}) count() obs_n, count() if ({REQUEST_ERROR}) obs_e"
        hist = _Histogram()
        for row in await self.backends.traces.query(query, self.window):
            hist.add((row.get("name", "") if names else None, self._start(row)), row)
        return hist

    async def values(
        self, wanted: dict[int, set[int]]
    ) -> dict[tuple[int, int], list[tuple[str, int]]]:
        """(time bucket, log bucket) -> (operation, duration) of every row in those cells."""
        step_ns = self.step * NS
        # After a pipe, string_range on the end time matches nothing (VictoriaLogs v1.52.2)
        # and a numeric range compares float64s (±128 ns at today's times): the range is
        # widened by PAD and each row is placed by its exact end time here.
        conditions = [
            f"({END}:>={t - PAD} {END}:<{t + step_ns + PAD} "
            f"obs_bucket:in({','.join(str(b) for b in sorted(buckets))}))"
            for t, buckets in sorted(wanted.items())
        ]
        query = (
            f"{self.selector} | {BUCKET} | filter {' or '.join(conditions)} "
            f"| fields {END}, name, obs_bucket, duration | limit {FETCH_CAP + 1}"
        )
        found: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
        for row in await self.backends.traces.query(query, self.window):
            found[(self._start(row), _n(row.get("obs_bucket")))].append(
                (row.get("name", ""), _n(row.get("duration")))
            )
        return found


def _targets(hist: _Histogram) -> list[_Target]:
    targets = []
    for cell, counts in hist.buckets.items():
        items = sorted(counts.items())
        ranked = sum(n for _, n in items)
        for name, phi in PHIS.items():
            rank, below = nearest_rank(phi, ranked), 0
            for index, n in items:
                if below + n >= rank:
                    targets.append(_Target(cell, name, index, rank - below - 1))
                    break
                below += n
    return targets


def _plan_fetch(targets: list[_Target], overall: _Histogram) -> dict[int, set[int]]:
    """The time buckets' cells to read back, oldest first, within FETCH_CAP values."""
    by_time: dict[int, set[int]] = defaultdict(set)
    for target in targets:
        by_time[target.cell[1]].add(target.bucket)
    chosen: dict[int, set[int]] = {}
    used = 0
    for start in sorted(by_time):
        size = sum(overall.buckets[(None, start)].get(b, 0) for b in by_time[start])
        if used + size > FETCH_CAP:
            continue
        chosen[start] = by_time[start]
        used += size
    return chosen


def _resolve(
    targets: list[_Target],
    hists: list[_Histogram],
    found: dict[tuple[int, int], list[tuple[str, int]]],
    fetched: dict[int, set[int]],
) -> tuple[dict[tuple[Cell, str], tuple[int, bool]], str | None]:
    """(cell, percentile) -> (ns, exact); and why some are estimates, if any are."""
    counts: dict[Cell, dict[int, int]] = {}
    for hist in hists:
        counts.update(hist.buckets)
    out: dict[tuple[Cell, str], tuple[int, bool]] = {}
    why: set[str] = set()
    for target in targets:
        group, start = target.cell
        value = None
        if target.bucket in fetched.get(start, set()):
            rows = found.get((start, target.bucket), [])
            mine = sorted(d for name, d in rows if group is None or name == group)
            if len(mine) == counts[target.cell][target.bucket]:
                value = mine[target.offset]
            else:
                why.add(CHANGED)
        else:
            why.add(f"more than {FETCH_CAP} values to read")
        if value is None:
            out[(target.cell, target.name)] = (upper_edge_ns(target.bucket), False)
        else:
            out[(target.cell, target.name)] = (value, True)
    return out, ("; ".join(sorted(why)) or None)


def _ms(nanos: int | None) -> float | None:
    return None if nanos is None else round(nanos / 1e6, 3)


def _points(
    group: Group,
    starts: list[int],
    hist: _Histogram,
    values: dict[tuple[Cell, str], tuple[int, bool]],
) -> list[SeriesPoint]:
    points = []
    for start in starts:
        requests, errors = hist.totals.get((group, start), [0, 0])
        found = {name: values.get(((group, start), name)) for name in PHIS}
        points.append(
            SeriesPoint(
                time=rfc3339(from_unix_nanos(start)),
                requests=requests,
                errors=errors,
                error_rate=round(errors / requests, 6) if requests else 0.0,
                p50_ms=_ms(found["p50"][0]) if found["p50"] else None,
                p95_ms=_ms(found["p95"][0]) if found["p95"] else None,
                p99_ms=_ms(found["p99"][0]) if found["p99"] else None,
                exact=all(v[1] for v in found.values() if v),
            )
        )
    return points


def _bucket_starts(window: Window, step: int) -> list[int]:
    first = int(window.start.timestamp()) // step * step
    last = int(window.end.timestamp()) // step * step
    return [t * NS for t in range(first, last + 1, step)]


async def request_series(
    backends: Backends,
    service: str,
    window: Window,
    operation: str | None = None,
    by_operation: bool = False,
    buckets: int = DEFAULT_BUCKETS,
    extra: str | None = None,
) -> RequestSeries:
    """Every bucket of `window` for `service` (all requests, and with `by_operation` the
    MAX_SERIES_OPERATIONS operations with most errors, then requests); `extra` narrows the
    requests further (a run id filter, like request_figures')."""
    check_name(service, "service")
    if operation is not None:
        check_name(operation, "operation")
    if not 2 <= buckets <= MAX_BUCKETS:
        raise InvalidArgument(f"buckets={buckets}: choose 2..{MAX_BUCKETS}")
    step = step_for(window, buckets)
    selector = " ".join(filter(None, [entry_spans(service, window, operation), extra]))
    series = _Series(backends, selector, window, step)
    names: list[str] = []
    total_ops = 0
    if by_operation:
        ranked = await ranked_operations(backends, series.selector, series.window)
        total_ops, names = len(ranked), ranked[:MAX_SERIES_OPERATIONS]
    overall, grouped, values, notes = await _compute(series, names, total_ops)
    starts = _bucket_starts(window, step)
    points = _points(None, starts, overall, values)
    operations = []
    for name in names:
        op_points = _points(name, starts, grouped, values)
        operations.append(
            OperationSeries(
                operation=name,
                requests=sum(p.requests for p in op_points),
                errors=sum(p.errors for p in op_points),
                points=op_points,
            )
        )
    hint = None
    if not any(p.requests for p in points):
        hint = await unknown_service_hint(backends, service, window, f"No requests of {service!r}")
    elif total_ops > len(names):
        hint = f"{len(names)} of {total_ops} operations have series (most errors, then requests)"
    return RequestSeries(
        service=service,
        window=window.describe(),
        step_s=step,
        source=(
            f"VictoriaTraces LogsQL over every request, per {step}s bucket of their end time "
            f"(exact counts); {REQUEST_DEFINITION_SHORT}; {PERCENTILE_SHORT} of each bucket"
        ),
        points=points,
        operations=operations,
        operations_total=total_ops,
        percentiles_exact=not notes,
        percentiles_note="; ".join(notes) or None,
        hint=hint,
    )


async def _compute(
    series: _Series, names: list[str], total_ops: int
) -> tuple[_Histogram, _Histogram, dict[tuple[Cell, str], tuple[int, bool]], list[str]]:
    """(overall, per operation, (cell, percentile) -> (ns, exact), notes). Rows that change
    between the histogram and the read-back start it again, ATTEMPTS times at most."""
    attempt = 1
    while True:
        if names and total_ops > len(names):
            (grouped, cut_g), (overall, cut_o) = await gather_all(
                lambda: series.histogram(names, by_name=True),
                lambda: series.histogram(None, by_name=False),
            )
        elif names:
            grouped, cut_g = await series.histogram(None, by_name=True)
            overall, cut_o = _merged(grouped), False
        else:
            grouped, cut_g = _Histogram(), False
            overall, cut_o = await series.histogram(None, by_name=False)
        if cut_g or cut_o:
            overall, grouped = await gather_all(
                lambda: series.counts_only(None),
                lambda: series.counts_only(names) if names else _empty(),
            )
            note = (
                f"no percentiles: more than {MAX_GROUP_ROWS} duration-histogram rows; "
                "use fewer buckets or a shorter window"
            )
            return overall, grouped, {}, [note]
        targets = _targets(overall) + _targets(grouped)
        fetched = _plan_fetch(targets, overall)
        found = await series.values(fetched) if fetched else {}
        values, why = _resolve(targets, [overall, grouped], found, fetched)
        if why and CHANGED in why and attempt < ATTEMPTS:
            attempt += 1
            continue
        return overall, grouped, values, [ESTIMATE_NOTE.format(why=why)] if why else []


def _merged(grouped: _Histogram) -> _Histogram:
    overall = _Histogram()
    for (_, start), (requests, errors) in grouped.totals.items():
        overall.totals[(None, start)][0] += requests
        overall.totals[(None, start)][1] += errors
    for (_, start), counts in grouped.buckets.items():
        mine = overall.buckets[(None, start)]
        for index, n in counts.items():
            mine[index] = mine.get(index, 0) + n
    return overall


async def _empty() -> _Histogram:
    return _Histogram()
