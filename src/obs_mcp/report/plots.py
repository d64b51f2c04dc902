"""The report's figures, drawn by matplotlib as inline SVG (text as paths: no fonts, no
network needed to show them). Each function takes figures already computed by the core and
only draws them."""

from __future__ import annotations

import io
from datetime import datetime

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG only

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from obs_mcp.core.distribution import bucket_bounds_ms
from obs_mcp.models import CorrelatedTrace, SeriesPoint, SpanNode
from obs_mcp.report.gather import SideData

COLORS = {"baseline": "#d1495b", "current": "#00798c", "window": "#00798c"}
CRITICAL, OTHER, ERROR_EDGE = "#edae49", "#b0b0b0", "#8b0000"
WIDTH_IN, DPI = 12.0, 96
MAX_TRACE_ROWS = 30
ANCHOR = (1.01, 1.0)  # legends to the right of the axes (upper left there): never over data

plt.rcParams.update({
    "svg.fonttype": "path", "font.size": 10, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
})  # fmt: skip


def to_svg(fig: Figure, salt: str) -> str:
    """The <svg> element alone; a salt per figure keeps element ids unique in one page."""
    plt.rcParams["svg.hashsalt"] = salt
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _times(points: list[SeriesPoint]) -> list[datetime]:
    return [datetime.fromisoformat(p.time.replace("Z", "+00:00")) for p in points]


def _time_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
    ax.set_xlabel("time (UTC), by request end")


def traffic(sides: list[SideData]) -> str:
    """Requests per bucket (bars) and error rate (line), each side in its colour."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(WIDTH_IN, 5.2), sharex=True, dpi=DPI)
    steps = {side.series.step_s for side in sides}
    for side in sides:
        points, color = side.series.points, COLORS[side.label]
        times = _times(points)
        width = side.series.step_s / 86400 * 0.9
        per = f" ({side.series.step_s}s buckets)" if len(steps) > 1 else ""
        top.bar(times, [p.requests for p in points], width=width, color=color,
                label=f"{side.label}: {sum(p.requests for p in points)} requests{per}")  # fmt: skip
        shown = [(t, p.error_rate * 100) for t, p in zip(times, points, strict=True) if p.requests]
        if shown:
            xs, ys = zip(*shown, strict=True)
            bottom.plot(xs, ys, color=color, marker="o", markersize=3, linewidth=1.8,
                        label=f"{side.label}: {sum(p.errors for p in points)} errors")  # fmt: skip
    top.set_ylabel(f"requests / {steps.pop()}s" if len(steps) == 1 else "requests per bucket")
    bottom.set_ylabel("error rate %")
    bottom.set_ylim(bottom=0)
    top.legend(loc="upper left", bbox_to_anchor=ANCHOR)
    bottom.legend(loc="upper left", bbox_to_anchor=ANCHOR)
    _time_axis(bottom)
    fig.suptitle("Requests and error rate over time")
    return to_svg(fig, "traffic")


def latency(sides: list[SideData]) -> str:
    """p50 (dashed), p95 (solid) and p99 (dotted) per bucket."""
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.6), dpi=DPI)
    styles = (("p50_ms", "--", "p50"), ("p95_ms", "-", "p95"), ("p99_ms", ":", "p99"))
    for side in sides:
        points, color = side.series.points, COLORS[side.label]
        for attr, style, name in styles:
            shown = [(t, getattr(p, attr)) for t, p in zip(_times(points), points, strict=True)
                     if getattr(p, attr) is not None]  # fmt: skip
            if shown:
                xs, ys = zip(*shown, strict=True)
                ax.plot(xs, ys, linestyle=style, color=color, linewidth=1.8,
                        marker="o" if name == "p95" else None, markersize=3,
                        label=f"{side.label} {name}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylabel("duration ms (log)")
    ax.legend(loc="upper left", bbox_to_anchor=ANCHOR, fontsize=8)
    _time_axis(ax)
    exact = all(s.series.percentiles_exact for s in sides)
    ax.set_title(
        "Latency per bucket" + ("" if exact else " (some points are bucket-edge estimates)")
    )
    return to_svg(fig, "latency")


def distribution(sides: list[SideData]) -> str:
    """Exact request counts per duration bucket (~5% wide), one outline per side."""
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.6), dpi=DPI)
    indices = [b.index for s in sides for b in s.histogram]
    if indices:
        low, high = min(indices), max(indices)
        for side in sides:
            counts = {b.index: b.count for b in side.histogram}
            edges = [side_edge(i) for i in range(low, high + 2)]
            values = [counts.get(i, 0) for i in range(low, high + 1)]
            ax.stairs(values, edges, color=COLORS[side.label], fill=True, alpha=0.35)
            ax.stairs(values, edges, color=COLORS[side.label], linewidth=1.8,
                      label=f"{side.label}: {sum(values)} requests")  # fmt: skip
        ax.set_xscale("log")
        ax.legend(loc="upper left", bbox_to_anchor=ANCHOR)
    ax.set_xlabel("request duration ms (log; buckets ~5% wide)")
    ax.set_ylabel("requests (exact count)")
    ax.set_title("Latency distribution" + (" before vs after" if len(sides) > 1 else ""))
    return to_svg(fig, "distribution")


def side_edge(index: int) -> float:
    """Lower edge of log bucket `index` in ms (clamped above zero for the log axis)."""
    return max(bucket_bounds_ms(index)[0], 1e-6)


def span_name(span: SpanNode) -> str:
    """`shop: SELECT products ×7` for a row that stands for repeated sibling calls."""
    times = f" ×{span.repeat.count}" if span.repeat else ""
    return f"{span.service}: {span.operation}{times}"


def span_duration(span: SpanNode) -> str:
    """The row's call; for a repeat row, what all its calls took together and their range."""
    r = span.repeat
    if r is None:
        return f"{span.duration_ms:g} ms"
    return f"×{r.count}: {r.total_ms:g} ms in all ({r.min_ms:g}-{r.max_ms:g} ms each)"


def critical_path(trace: CorrelatedTrace) -> str:
    """The slowest trace as a waterfall: its critical path highlighted, errors outlined."""
    spans = trace.spans[:MAX_TRACE_ROWS]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.9 + 0.32 * max(3, len(spans))), dpi=DPI)
    for row, span in enumerate(spans):
        ax.barh(row, max(span.duration_ms, 0.001), left=span.start_offset_ms, height=0.7,
                color=CRITICAL if span.critical else OTHER,
                edgecolor=ERROR_EDGE if span.status == "error" else "none", linewidth=1.5)  # fmt: skip
        name = f"{'  ' * span.depth}{span_name(span)}"
        ax.text(span.start_offset_ms, row, f" {span_duration(span)}", va="center", fontsize=8)
        ax.annotate(name[:60], (0, row), xytext=(-6, 0), textcoords="offset points",
                    xycoords=("axes fraction", "data"), ha="right", va="center", fontsize=8)  # fmt: skip
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xlabel("ms since the trace started")
    ax.grid(axis="y", visible=False)
    shown = f" ({len(spans)} of {trace.span_count} spans)" if trace.span_count > len(spans) else ""
    ax.set_title(f"Slowest trace {trace.trace_id}: critical path in yellow{shown}")
    return to_svg(fig, "critical")
