"""One self-contained HTML page: inline CSS, inline SVG figures and the figures' numbers as
embedded JSON (nothing is fetched when it is opened)."""

from __future__ import annotations

import html
import json
from typing import Any

from obs_mcp.models import SideStats, SpanNode
from obs_mcp.report import plots
from obs_mcp.report.gather import ReportData

STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1240px; }
h1 { font-size: 22px; margin: 0 0 4px 0; } h2 { font-size: 17px; margin: 28px 0 8px 0; }
.verdict { display: inline-block; padding: 6px 14px; border-radius: 6px; font-weight: bold;
  font-size: 18px; color: white; background: #777; }
.improved { background: #2e7d32; } .regressed { background: #c62828; }
.mixed { background: #ef6c00; } .insufficient_data, .unchanged { background: #607d8b; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #666; font-size: 12px; } code { font-size: 12px; }
figure { margin: 8px 0 16px 0; } svg { max-width: 100%; height: auto; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _side_row(label: str, s: SideStats) -> str:
    cells = [str(s.requests), str(s.errors), f"{s.error_rate * 100:.2f}%", _opt(s.per_s),
             _opt(s.p50_ms), _opt(s.p95_ms), _opt(s.p99_ms)]  # fmt: skip
    return (
        f"<tr><th>{_e(label)}</th>" + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>"
    )


def _summary(data: ReportData) -> str:
    head = ("<tr><th></th><th>requests</th><th>errors</th><th>error rate</th><th>req/s</th>"
            "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>")  # fmt: skip
    if data.compare is not None:
        c = data.compare
        reasons = "".join(f"<li>{_e(r)}</li>" for r in c.reasons)
        rows = _side_row("baseline", c.baseline) + _side_row("current", c.current)
        return (
            f'<p><span class="verdict {_e(c.verdict)}" id="verdict">{_e(c.verdict)}</span></p>'
            f"<ul>{reasons}</ul><table>{head}{rows}</table>"
            f'<p class="muted">baseline {_e(c.baseline_window)}<br>current {_e(c.current_window)}'
            f"<br>thresholds: {_e(c.thresholds)}</p>"
        )
    f = data.figures
    assert f is not None
    stats = SideStats(requests=f.total, errors=f.errors, error_rate=f.error_rate, per_s=None,
                      p50_ms=f.p50_ms, p95_ms=f.p95_ms, p99_ms=f.p99_ms)  # fmt: skip
    return f'<table>{head}{_side_row("window", stats)}</table><p class="muted">{_e(f.window)}</p>'


def _signatures(data: ReportData) -> str:
    if not data.errors.signatures:
        return f"<p>No error spans in {_e(data.errors.window)}.</p>"
    rows = "".join(
        f'<tr><td class="num">{s.count}</td><td>{_e(s.service)}: {_e(s.operation)}</td>'
        f"<td>{_e(s.exception_type or '')} {_e(s.message)}</td><td>{_e(s.code_location or '-')}</td>"
        f"<td><code>{_e(s.sample_trace_id)}</code></td></tr>"
        for s in data.errors.signatures
    )
    return (
        "<table><tr><th>count</th><th>service: operation</th><th>error</th><th>where</th>"
        f"<th>sample trace</th></tr>{rows}</table>"
        f'<p class="muted">{"; ".join(_e(x) for x in (data.errors.window, data.errors.hint) if x)}</p>'
    )


def _duration_cell(span: SpanNode) -> str:
    """A repeat row's self time is all its calls': its duration cell says so."""
    r = span.repeat
    if r is None:
        return f"{span.duration_ms:g}"
    return f"×{r.count} = {r.total_ms:g} ({r.min_ms:g}-{r.max_ms:g} each)"


def _trace(data: ReportData) -> str:
    t, slow = data.trace, data.slowest
    if t is None or slow is None or not t.spans:
        return "<p>No request in the window.</p>"
    path = [s for s in t.spans if s.critical]
    rows = "".join(
        f'<tr><td>{_e(plots.span_name(s))}</td><td class="num">{_e(_duration_cell(s))}</td>'
        f'<td class="num">{s.self_ms:g}</td><td>{_e(s.status)}</td></tr>'
        for s in path
    )
    return (
        f"<p>{_e(slow.operation)}, {slow.duration_ms:g} ms, ended {_e(slow.end_time)}; "
        f"trace <code>{_e(t.trace_id)}</code> ({t.span_count} spans, {t.error_count} errors)</p>"
        f"<figure>{plots.critical_path(t)}</figure>"
        "<table><tr><th>critical path</th><th>duration ms</th><th>self ms</th><th>status</th></tr>"
        f"{rows}</table>"
    )


def _embedded(data: ReportData) -> dict[str, Any]:
    """The numbers behind every figure, for anyone (or any test) reading the file."""
    return {
        "service": data.service,
        "generated": data.generated,
        "compare": data.compare.model_dump(mode="json") if data.compare else None,
        "figures": data.figures.model_dump(mode="json") if data.figures else None,
        "sides": [
            {
                "label": s.label,
                "window": s.describe,
                "series": s.series.model_dump(mode="json"),
                "histogram": [b.model_dump(mode="json") for b in s.histogram],
            }
            for s in data.sides
        ],
        "top_errors": data.errors.model_dump(mode="json"),
        "slowest": data.slowest.model_dump(mode="json") if data.slowest else None,
        "critical_path": [
            s.model_dump(mode="json")
            for s in (data.trace.spans if data.trace else [])
            if s.critical
        ],
    }


def _estimates(data: ReportData) -> tuple[list[str], list[str]]:
    """Why some percentiles are estimates: (of the summary's figures, of the per-bucket ones)."""
    figures = [r for r in (data.compare, data.figures) if r is not None]
    summary = [r.percentiles_note or "estimates" for r in figures if not r.percentiles_exact]
    series = [s.series.percentiles_note for s in data.sides if s.series.percentiles_note]
    return summary, series


def render_page(data: ReportData) -> str:
    sides = data.sides
    summary_notes, notes = _estimates(data)
    exact = (
        "percentiles exact nearest rank"
        if not (summary_notes or notes)
        else "percentiles nearest rank, some of them estimates (each figure's note says which)"
    )
    blob = json.dumps(_embedded(data), ensure_ascii=False).replace("</", "<\\/")
    title = f"obs-mcp report: {data.service}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{_e(title)}</h1><p class="muted">generated {_e(data.generated)} from the stores' own
counts: every request (entry span, placed by its end time), errors = status ERROR or
HTTP >= 500, {exact}.</p>
<section id="summary"><h2>{"Did it get better?" if data.compare else "Figures"}</h2>{_summary(data)}
{"".join(f'<p class="muted">percentiles: {_e(n)}</p>' for n in summary_notes)}</section>
<section id="traffic"><h2>Error rate and traffic over time</h2><figure>{plots.traffic(sides)}</figure></section>
<section id="latency"><h2>Latency over time</h2><figure>{plots.latency(sides)}</figure>
{"".join(f'<p class="muted">{_e(n)}</p>' for n in notes)}</section>
<section id="distribution"><h2>Latency distribution</h2><figure>{plots.distribution(sides)}</figure></section>
<section id="errors"><h2>Top error signatures</h2>{_signatures(data)}</section>
<section id="trace"><h2>Slowest request: its critical path</h2>{_trace(data)}</section>
<script type="application/json" id="report-data">{blob}</script>
</body></html>
"""
