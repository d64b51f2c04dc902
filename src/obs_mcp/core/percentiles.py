"""Exact percentiles of span durations, counted by the store.

LogsQL's `quantile()` keeps a 10,000-value random sample per worker, so past that size it
is an estimate. Exactness costs little more: the store counts every duration into fine
logarithmic buckets (`math` + `stats`: an exact histogram), the bucket holding the wanted
rank is then known with the rank inside it, and the store hands back that bucket's values
(all of them, their number checked against the histogram) from which the ranked one is read.
A bucket too big to read back is split by a finer linear histogram first.

Definition (nearest rank): the p-th percentile of N durations is the smallest duration d such
that at least ceil(p * N) of them are <= d.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from obs_mcp.clients.logsql import LogsQLClient
from obs_mcp.core.fanout import gather_all
from obs_mcp.queries import logsql_exact, logsql_field, logsql_in
from obs_mcp.timeparse import Window

PHIS: dict[str, Fraction] = {
    "p50": Fraction(1, 2),
    "p95": Fraction(95, 100),
    "p99": Fraction(99, 100),
}
PERCENTILE_DEFINITION = (
    "exact nearest-rank percentiles over every request: p95 = the smallest duration that at "
    "least 95% of requests did not exceed"
)
PERCENTILE_SHORT = "percentiles are exact nearest-rank order statistics of every request"
BUCKETS_PER_E = 20  # log buckets about 5% wide
BUCKET = f"math floor(ln(max(duration, 0) + 1) * {BUCKETS_PER_E}) as obs_bucket"
FETCH_CAP = 20_000  # values read back in one query
SUB_BUCKETS = 1000
MAX_DEPTH = 5  # linear refinement levels: 1000^4 > any span duration in ns
MAX_GROUP_ROWS = 50_000


@dataclass
class GroupStats:
    """Exact figures of one group (all requests, or one operation); durations in ns."""

    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    percentiles: dict[str, int | None] = field(default_factory=dict)


@dataclass
class ExactStats:
    groups: dict[str, GroupStats]
    overall: GroupStats
    exact: bool = True
    note: str | None = None


@dataclass(frozen=True)
class _Cell:
    """One bucket of one group: the pipes after the base query that select its rows."""

    group: str | None
    pipes: tuple[str, ...]
    width: int  # the linear bucket width the next refinement would use


@dataclass
class _Target:
    group: str | None
    name: str
    cell: _Cell
    offset: int  # 0-based rank inside the cell


class _Changed(Exception):
    """Rows arrived (or expired) between two queries of one computation."""

    def __init__(self, difference: int) -> None:
        self.difference = difference


def nearest_rank(phi: Fraction, n: int) -> int:
    """ceil(phi * n), at least 1, in integer arithmetic (0.95 * 100 must be 95, not 96)."""
    return max(1, -(-phi.numerator * n // phi.denominator))


def _int(raw: str | None) -> int:
    return int(float(raw)) if raw not in (None, "", "NaN") else 0


def _bucket_width(bucket: int) -> int:
    low = math.exp(bucket / BUCKETS_PER_E) - 1
    high = math.exp((bucket + 1) / BUCKETS_PER_E) - 1
    return max(1, math.ceil((high - low) / SUB_BUCKETS))


class _Engine:
    def __init__(
        self,
        client: LogsQLClient,
        selector: str,
        window: Window,
        group_by: str | None,
        count_if: Mapping[str, str],
    ) -> None:
        self.client, self.selector, self.window = client, selector, window
        self.group_by, self.count_if = group_by, count_if

    def _base(self, groups: list[str] | None) -> str:
        if self.group_by is None or groups is None:
            return self.selector
        return f"{self.selector} {logsql_in(self.group_by, groups)}"

    def _group_filter(self, group: str | None) -> str:
        return logsql_exact(self.group_by, group) if self.group_by and group is not None else ""

    async def histogram(
        self, groups: list[str] | None, by_group: bool
    ) -> tuple[dict[str | None, GroupStats], dict[str | None, list[tuple[int, int]]], bool]:
        """(figures, sorted (bucket, count) per group, truncated) from one stats query."""
        extra = "".join(f", count() if ({flt}) {name}" for name, flt in self.count_if.items())
        keys = f"{logsql_field(self.group_by or '')}, obs_bucket" if by_group else "obs_bucket"
        query = (
            f"{self._base(groups)} | {BUCKET} | stats by ({keys}) count() obs_n{extra} "
            f"| limit {MAX_GROUP_ROWS + 1}"
        )
        rows = await self.client.query(query, self.window)
        truncated = len(rows) > MAX_GROUP_ROWS
        stats: dict[str | None, GroupStats] = defaultdict(GroupStats)
        buckets: dict[str | None, list[tuple[int, int]]] = defaultdict(list)
        for row in rows[:MAX_GROUP_ROWS]:
            key = row.get(self.group_by or "", "") if by_group else None
            n = _int(row.get("obs_n"))
            group = stats[key]
            group.total += n
            for name in self.count_if:
                group.counts[name] = group.counts.get(name, 0) + _int(row.get(name))
            raw = row.get("obs_bucket", "")
            try:
                index = int(float(raw))
            except ValueError:
                continue  # no duration (NaN): counted, not ranked
            buckets[key].append((index, n))
        for items in buckets.values():
            items.sort()
        return dict(stats), dict(buckets), truncated

    def targets(
        self, buckets: Mapping[str | None, list[tuple[int, int]]]
    ) -> tuple[list[_Target], dict[_Cell, int]]:
        targets: list[_Target] = []
        sizes: dict[_Cell, int] = {}
        for group, items in buckets.items():
            ranked = sum(n for _, n in items)
            if not ranked:
                continue
            for name, phi in PHIS.items():
                rank, below = nearest_rank(phi, ranked), 0
                for index, n in items:
                    if below + n >= rank:
                        pipes = (BUCKET, f"filter obs_bucket:={index}")
                        cell = _Cell(group, pipes, _bucket_width(index))
                        sizes[cell] = n
                        targets.append(_Target(group, name, cell, rank - below - 1))
                        break
                    below += n
        return targets, sizes

    async def _fetch(
        self, cells: list[_Cell], sizes: Mapping[_Cell, int]
    ) -> dict[_Cell, list[int]]:
        """All durations of first-level cells, in one query; counts must match the histogram."""
        by_bucket: dict[str, list[_Cell]] = defaultdict(list)
        for cell in cells:
            by_bucket[cell.pipes[1]].append(cell)
        conditions = []
        for pipe, members in by_bucket.items():
            bucket = pipe.removeprefix("filter ")
            if any(c.group is None for c in members):
                conditions.append(bucket)
            else:
                names = sorted({str(c.group) for c in members})
                conditions.append(f"({logsql_in(str(self.group_by), names)} {bucket})")
        wanted = sum(sizes[c] for c in cells)
        cols = ", ".join(
            filter(
                None,
                [logsql_field(self.group_by) if self.group_by else "", "obs_bucket", "duration"],
            )
        )
        query = (
            f"{self.selector} | {BUCKET} | filter {' or '.join(conditions)} "
            f"| fields {cols} | limit {wanted + 1}"
        )
        rows = await self.client.query(query, self.window)
        values: dict[_Cell, list[int]] = {cell: [] for cell in cells}
        index = {(c.group, c.pipes[1]): c for c in cells}
        for row in rows:
            pipe = f"filter obs_bucket:={_int(row.get('obs_bucket'))}"
            duration = _int(row.get("duration"))
            overall = index.get((None, pipe))
            if overall is not None:
                values[overall].append(duration)
            if self.group_by is not None:
                own = index.get((row.get(self.group_by, ""), pipe))
                if own is not None:
                    values[own].append(duration)
        difference = sum(abs(len(values[c]) - sizes[c]) for c in cells)
        if difference:
            raise _Changed(difference)
        for found in values.values():
            found.sort()
        return values

    async def _refine(self, target: _Target, size: int, depth: int = 1) -> int:
        """The ranked value of a cell too big to read back: split it, descend, read."""
        cell, offset = target.cell, target.offset
        base = f"{self.selector} {self._group_filter(cell.group)}".strip()
        if size <= FETCH_CAP or depth > MAX_DEPTH:
            query = (
                f"{base} | {' | '.join(cell.pipes)} | sort by (duration) "
                f"| offset {offset} | limit 1 | fields duration"
            )
            rows = await self.client.query(query, self.window)
            if not rows:
                raise _Changed(1)
            return _int(rows[0].get("duration"))
        width = cell.width
        level = f"obs_sub{depth}"
        split = f"math floor(duration / {width}) as {level}"
        query = f"{base} | {' | '.join(cell.pipes)} | {split} | stats by ({level}) count() obs_n"
        rows = await self.client.query(query, self.window)
        parts = sorted((_int(r.get(level)), _int(r.get("obs_n"))) for r in rows)
        if sum(n for _, n in parts) != size:
            raise _Changed(abs(sum(n for _, n in parts) - size))
        below = 0
        for index, n in parts:
            if below + n > offset:
                if width == 1:
                    return index  # one integer value: every row of it is the answer
                sub = _Cell(
                    cell.group,
                    (*cell.pipes, split, f"filter {level}:={index}"),
                    max(1, math.ceil(width / SUB_BUCKETS)),
                )
                return await self._refine(
                    _Target(target.group, target.name, sub, offset - below), n, depth + 1
                )
            below += n
        raise _Changed(1)

    async def resolve(
        self, targets: list[_Target], sizes: Mapping[_Cell, int]
    ) -> dict[tuple[str | None, str], int]:
        small = [c for c in dict.fromkeys(t.cell for t in targets) if sizes[c] <= FETCH_CAP]
        batches: list[list[_Cell]] = []
        for cell in sorted(small, key=lambda c: sizes[c]):
            if batches and sum(sizes[c] for c in batches[-1]) + sizes[cell] <= FETCH_CAP:
                batches[-1].append(cell)
            else:
                batches.append([cell])
        big = [t for t in targets if sizes[t.cell] > FETCH_CAP]
        outcomes = await gather_all(
            *[(lambda b=b: self._fetch(b, sizes)) for b in batches],
            *[(lambda t=t: self._refine(t, sizes[t.cell])) for t in big],
        )
        values: dict[_Cell, list[int]] = {}
        for outcome in outcomes[: len(batches)]:
            values.update(outcome)
        result = {(t.group, t.name): v for t, v in zip(big, outcomes[len(batches) :], strict=True)}
        for t in targets:
            if t.cell in values:
                result[(t.group, t.name)] = values[t.cell][t.offset]
        return result


def _merge(stats: Mapping[str | None, GroupStats]) -> GroupStats:
    total = GroupStats()
    for group in stats.values():
        total.total += group.total
        for name, count in group.counts.items():
            total.counts[name] = total.counts.get(name, 0) + count
    return total


async def exact_stats(
    client: LogsQLClient,
    selector: str,
    window: Window,
    *,
    group_by: str | None = None,
    groups: list[str] | None = None,
    count_if: Mapping[str, str] | None = None,
    attempts: int = 3,
) -> ExactStats:
    """Counts and exact p50/p95/p99 of `duration` over every row of `selector` in `window`.

    With `group_by`, also per group (restricted to `groups` when given: the overall figures
    then cover only those groups). Rows arriving between its queries make it start again;
    if they keep arriving, the answer says so (`exact=False`, the method in `note`).
    """
    engine = _Engine(client, selector, window, group_by, count_if or {})
    difference = 0
    for _ in range(attempts):
        stats, buckets, truncated = await engine.histogram(groups, by_group=group_by is not None)
        if truncated:
            break
        overall = _merge(stats)
        if group_by is not None:
            merged: dict[int, int] = defaultdict(int)
            for items in buckets.values():
                for index, n in items:
                    merged[index] += n
            buckets = {**buckets, None: sorted(merged.items())}
        targets, sizes = engine.targets(buckets)
        try:
            values = await engine.resolve(targets, sizes)
        except _Changed as changed:
            difference = changed.difference
            continue
        overall.percentiles = {name: values.get((None, name)) for name in PHIS}
        named: dict[str, GroupStats] = {}
        if group_by is not None:
            for key, group in stats.items():
                group.percentiles = {name: values.get((key, name)) for name in PHIS}
                named[str(key)] = group
        return ExactStats(groups=named, overall=overall)
    approx = await approximate_stats(client, selector, window, group_by, groups, count_if or {})
    why = (
        f"{MAX_GROUP_ROWS} histogram rows were not enough"
        if difference == 0
        else f"data kept arriving while they were read ({difference} rows changed between two "
        "queries, three times; ask again with an `end` a few seconds in the past for exact ones)"
    )
    approx.note = (
        f"percentiles are VictoriaLogs quantile() estimates (a 10,000-value random sample per "
        f"worker; rank error grows with the number of requests): {why}. Counts are exact."
    )
    return approx


async def approximate_stats(
    client: LogsQLClient,
    selector: str,
    window: Window,
    group_by: str | None,
    groups: list[str] | None,
    count_if: Mapping[str, str],
) -> ExactStats:
    """The store's sampled quantiles: only when exact ranks cannot be pinned down."""
    extra = "".join(f", count() if ({flt}) {name}" for name, flt in count_if.items())
    quantiles = ", ".join(f"quantile({float(phi)}, duration) {n}" for n, phi in PHIS.items())
    stats_expr = f"count() obs_n{extra}, {quantiles}"
    base = selector if not (group_by and groups) else f"{selector} {logsql_in(group_by, groups)}"
    overall_q = f"{base} | stats {stats_expr}"
    grouped_q = f"{base} | stats by ({logsql_field(group_by or '')}) {stats_expr}"
    overall_rows, grouped_rows = await gather_all(
        lambda: client.query(overall_q, window),
        lambda: client.query(grouped_q, window) if group_by else _no_rows(),
    )

    def parse(row: Mapping[str, str]) -> GroupStats:
        return GroupStats(
            total=_int(row.get("obs_n")),
            counts={name: _int(row.get(name)) for name in count_if},
            percentiles={n: _int(row[n]) if row.get(n) not in (None, "", "NaN") else None
                         for n in PHIS},
        )  # fmt: skip

    named = {row.get(group_by or "", ""): parse(row) for row in grouped_rows}
    overall = parse(overall_rows[0] if overall_rows else {})
    return ExactStats(groups=named, overall=overall, exact=False)


async def _no_rows() -> list[dict[str, str]]:
    return []
