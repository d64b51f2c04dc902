"""query_metrics: PromQL/MetricsQL over VictoriaMetrics, instant or range, bounded."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from obs_mcp.core.backends import Backends
from obs_mcp.core.links import metrics_link
from obs_mcp.core.tenants import metrics_tenant_note
from obs_mcp.errors import InvalidArgument
from obs_mcp.models import MetricsResult, Series
from obs_mcp.timeparse import parse_duration, parse_instant, resolve_window, rfc3339

MAX_SERIES = 50
MAX_POINTS_PER_SERIES = 120
MAX_QUERY_CHARS = 4000
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


def auto_step(seconds: float) -> float:
    """The smallest 'nice' step that keeps a series under MAX_POINTS_PER_SERIES points."""
    wanted = seconds / MAX_POINTS_PER_SERIES
    return float(next((s for s in NICE_STEPS if s >= wanted), math.ceil(wanted)))


def _num(raw: Any) -> float | None:
    """JSON has no NaN/Inf: a non-finite sample (e.g. x/0) is reported as null."""
    value = float(raw)
    return value if math.isfinite(value) else None


def _labels(metric: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(metric.items())}


async def query_metrics(
    backends: Backends,
    query: str,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
) -> MetricsResult:
    query = (query or "").strip()
    if not query:
        raise InvalidArgument("query is empty: give a PromQL/MetricsQL expression")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"query is longer than {MAX_QUERY_CHARS} characters")
    if not since and not start:
        at = parse_instant(end, "end") if end else datetime.now(UTC)
        data = await backends.metrics.instant(query, at.timestamp())
        result = _instant_result(query, data)
        if result.series:
            result.links = {"vmui": metrics_link(backends.settings, query, None)}
        return _with_tenant(result, backends)
    window = resolve_window(since, start, end)
    step_s = parse_duration(step, "step").total_seconds() if step else auto_step(window.seconds)
    if window.seconds / step_s > 11_000:
        raise InvalidArgument(
            f"step={step} gives more than 11000 points over {window.describe()}; use a larger step"
        )
    data = await backends.metrics.range(
        query, window.start.timestamp(), window.end.timestamp(), step_s
    )
    result = _range_result(query, data, window.describe(), step_s)
    if result.series:
        result.links = {"vmui": metrics_link(backends.settings, query, window, step_s)}
    return _with_tenant(result, backends)


def _with_tenant(result: MetricsResult, backends: Backends) -> MetricsResult:
    """An empty answer from a cluster tenant names that tenant (a wrong one reads as empty)."""
    if not result.series and (note := metrics_tenant_note(backends.metrics.config)):
        result.hint = f"{result.hint} {note}" if result.hint else note
    return result


def _instant_result(query: str, data: dict[str, Any]) -> MetricsResult:
    result_type = data.get("resultType")
    raw = data.get("result", [])
    if result_type == "scalar" or result_type == "string":
        raw = [{"metric": {}, "value": raw}]
    series = [
        Series(
            labels=_labels(item.get("metric", {})),
            value=_num(item["value"][1]),
            time=rfc3339(datetime.fromtimestamp(float(item["value"][0]), UTC)),
        )
        for item in raw[:MAX_SERIES]
    ]
    return MetricsResult(
        query=query,
        kind="instant",
        series=series,
        returned=len(series),
        truncated=len(raw) > MAX_SERIES,
        hint=_hint(query, len(raw), len(series)),
    )


def _range_result(query: str, data: dict[str, Any], window: str, step_s: float) -> MetricsResult:
    raw = data.get("result", [])
    series: list[Series] = []
    omitted = 0
    for item in raw[:MAX_SERIES]:
        points = item.get("values", [])
        if len(points) > MAX_POINTS_PER_SERIES:
            stride = math.ceil(len(points) / MAX_POINTS_PER_SERIES)
            kept = points[::stride]
            if kept[-1] is not points[-1]:
                kept.append(points[-1])  # always keep the newest point
            omitted += len(points) - len(kept)
            points = kept
        series.append(
            Series(
                labels=_labels(item.get("metric", {})),
                values=[
                    (rfc3339(datetime.fromtimestamp(float(t), UTC)), _num(v)) for t, v in points
                ],
            )
        )
    return MetricsResult(
        query=query,
        kind="range",
        window=window,
        step_s=step_s,
        series=series,
        returned=len(series),
        truncated=len(raw) > MAX_SERIES or omitted > 0,
        points_omitted=omitted,
        hint=_hint(query, len(raw), len(series)),
    )


def _hint(query: str, matched: int, shown: int) -> str | None:
    if matched == 0:
        return (
            "No series matched. Metric names use Prometheus naming here (counters end in _total, "
            "the service label is service_name); list_services shows which services send "
            'metrics, and query `count by (__name__) ({service_name="SVC"})` lists their names.'
        )
    if matched > shown:
        return (
            f"{matched} series matched, {shown} shown: aggregate (sum by (...)) or filter labels."
        )
    return None
