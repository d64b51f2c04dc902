"""Trends in plain text: sparklines of request_series and before/after bars of compare_runs.

Only unicode block characters and spaces, so the lines read the same in a terminal, a pipe
or a log file (no colour codes, no box drawing), and every line fits the given width.
"""

from __future__ import annotations

from collections.abc import Sequence

from obs_mcp.models import CompareResult, RequestSeries, SeriesPoint, SideStats

BLOCKS = "▁▂▃▄▅▆▇█"
BAR = "█"
LABEL = 10  # "  requests" column


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value: blank for none or zero, else ▁..█ scaled to the maximum."""
    top = max((v for v in values if v), default=0.0)
    out = []
    for value in values:
        if not value or not top:
            out.append(" ")
        else:
            out.append(BLOCKS[min(len(BLOCKS) - 1, int(value / top * (len(BLOCKS) - 1) + 0.5))])
    return "".join(out)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _rows(points: list[SeriesPoint], width: int) -> list[str]:
    """Three sparklines (requests, errors, p95), each with its peak, within `width`."""
    room = max(8, width - LABEL - 14)
    shown = points[-room:]  # the newest buckets when the window has more than fit
    peak_req = max((p.requests for p in shown), default=0)
    peak_err = max((p.errors for p in shown), default=0)
    peak_p95 = max((p.p95_ms or 0.0 for p in shown), default=0.0)
    approx = "~" if any(not p.exact for p in shown) else ""
    return [
        f"{'requests':>{LABEL}} {sparkline([p.requests for p in shown])}  max {peak_req}",
        f"{'errors':>{LABEL}} {sparkline([p.errors for p in shown])}  max {peak_err}",
        f"{'p95 ms':>{LABEL}} {sparkline([p.p95_ms for p in shown])}  max {approx}{peak_p95:g}",
    ]


def series_lines(series: RequestSeries, width: int = 80) -> list[str]:
    """The service's trend, then each operation's, one header line and three sparklines."""
    first = series.points[0].time[11:19] if series.points else "-"
    last = series.points[-1].time[11:19] if series.points else "-"
    lines = [
        _cut(f"trends, {series.step_s}s buckets {first} .. {last} UTC (by request end)", width)
    ]
    blocks = [("ALL", series.points)] + [(o.operation, o.points) for o in series.operations]
    for name, points in blocks:
        requests = sum(p.requests for p in points)
        errors = sum(p.errors for p in points)
        rate = f"{errors / requests * 100:.1f}%" if requests else "-"
        lines.append(_cut(f"{name}  {requests} requests, {errors} errors ({rate})", width))
        lines += [_cut(row, width) for row in _rows(points, width)]
    if not series.percentiles_exact:
        lines.append(_cut("~ p95 of some buckets is a bucket-edge estimate (see --json)", width))
    if series.hint:
        lines.append(_cut(f"note: {series.hint}", width))
    return lines


def _bar(value: float | None, top: float, room: int) -> str:
    if not value or not top:
        return ""
    return BAR * max(1, round(value / top * room))


def _pair(label: str, b: float | None, c: float | None, shown: tuple[str, str], room: int) -> str:
    top = max(b or 0.0, c or 0.0)
    left = f"{shown[0]:>8} {_bar(b, top, room):<{room}}"
    return f"{label:<12}{left}  {shown[1]:>8} {_bar(c, top, room)}".rstrip()


def _side_rows(b: SideStats, c: SideStats, room: int) -> list[str]:
    return [
        _pair("error rate", b.error_rate, c.error_rate,
              (f"{b.error_rate * 100:.1f}%", f"{c.error_rate * 100:.1f}%"), room),
        _pair("p50 ms", b.p50_ms, c.p50_ms, (_fmt(b.p50_ms), _fmt(c.p50_ms)), room),
        _pair("p95 ms", b.p95_ms, c.p95_ms, (_fmt(b.p95_ms), _fmt(c.p95_ms)), room),
        _pair("p99 ms", b.p99_ms, c.p99_ms, (_fmt(b.p99_ms), _fmt(c.p99_ms)), room),
        _pair("requests", b.requests, c.requests, (str(b.requests), str(c.requests)), room),
    ]  # fmt: skip


def compare_lines(result: CompareResult, width: int = 80) -> list[str]:
    """Baseline and current side by side, as bars scaled to the larger of the two."""
    room = max(4, (width - 12 - 2 * 9 - 2) // 2)
    head = f"{'':<12}{'baseline':>8} {'':<{room}}  {'current':>8}"
    lines = [_cut(f"{result.service}: {result.verdict}", width), _cut(head, width)]
    lines += [_cut(row, width) for row in _side_rows(result.baseline, result.current, room)]
    for op in result.operations:
        lines.append(_cut(op.operation, width))
        b, c = op.baseline, op.current
        rows = _side_rows(b, c, room)
        lines += [_cut(rows[0], width), _cut(rows[2], width)]  # error rate and p95
    if not result.percentiles_exact:
        lines.append(_cut("percentiles are estimates: " + (result.percentiles_note or ""), width))
    return lines
