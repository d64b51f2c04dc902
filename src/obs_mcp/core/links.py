"""Deep links: an answer's view in the stack's own UIs, for the human next to the agent.

Built only from the configured store URLs (VM_URL, VL_URL, VT_URL) and OBS_MCP_GRAFANA_URL,
never guessed. vmui (VictoriaMetrics; VictoriaLogs, whose UI VictoriaTraces serves for span
rows too) keeps its state in the URL fragment: `#/?g0.expr=` (PromQL) or `#/?query=`
(LogsQL), the range as `g0.range_input` (a duration) + `g0.end_input` with
`g0.relative_time=none`. VictoriaTraces' UI is a LogsQL explorer of span rows without a
trace waterfall (vt-compat passes `/select/vmui` to its VictoriaLogs: the same explorer), so
a trace opens there as its span rows, and as a waterfall in Grafana Explore when
OBS_MCP_GRAFANA_URL points at the compose Grafana (datasource uid `victoriatraces`).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from obs_mcp.config import Settings
from obs_mcp.queries import logsql_exact
from obs_mcp.timeparse import Window

GRAFANA_TRACES_UID = "victoriatraces"  # compose/grafana/provisioning/datasources


def base_url(url: str) -> str:
    """The URL without credentials or trailing slash: links are shown, never sign in."""
    parts = urlsplit(url.rstrip("/"))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=host))


def duration(seconds: float) -> str:
    """Whole seconds up, as vmui's range field reads them: 5400 -> `1h30m`."""
    left = max(1, math.ceil(seconds))
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        out += f"{count}{unit}" if count else ""
    return out


def _end_second(moment: datetime) -> datetime:
    """The window's end rounded up to a whole second, so the view includes it."""
    whole = moment.astimezone(UTC).replace(microsecond=0)
    return whole if whole == moment else datetime.fromtimestamp(whole.timestamp() + 1, UTC)


def _fragment(params: dict[str, str]) -> str:
    return "#/?" + urlencode(params, quote_via=quote, safe="")


def _range(window: Window, end_text: str) -> dict[str, str]:
    end = _end_second(window.end)
    seconds = (end - window.start.astimezone(UTC).replace(microsecond=0)).total_seconds()
    return {
        "g0.range_input": duration(seconds),
        "g0.end_input": end.strftime(end_text),
        "g0.relative_time": "none",
    }


def metrics_link(
    settings: Settings, query: str, window: Window | None, step_s: float | None = None
) -> str:
    """vmui's query page; without a window vmui shows its default range up to now."""
    base = base_url(settings.metrics.url).removesuffix("/prometheus")  # vmselect: /select/0
    params = {"g0.expr": query}
    if window is not None:
        params.update(_range(window, "%Y-%m-%dT%H:%M:%S"))  # vmui reads it as UTC, no zone
        if step_s:
            params["g0.step_input"] = duration(step_s)
    return f"{base}/vmui/{_fragment(params)}"


def _logsql_ui(url: str, query: str, window: Window) -> str:
    params = {"query": query, **_range(window, "%Y-%m-%dT%H:%M:%SZ")}
    return f"{base_url(url)}/select/vmui/{_fragment(params)}"


def logs_link(settings: Settings, query: str, window: Window) -> str:
    return _logsql_ui(settings.logs.url, query, window)


def spans_link(settings: Settings, query: str, window: Window) -> str:
    return _logsql_ui(settings.traces.url, query, window)


def trace_links(settings: Settings, trace_id: str, window: Window, logs: bool) -> dict[str, str]:
    """A trace's span rows (VictoriaTraces UI), its logs, and Grafana's waterfall if set."""
    selector = logsql_exact("trace_id", trace_id)
    links = {"spans": spans_link(settings, selector, window)}
    if logs:
        links["logs"] = logs_link(settings, selector, window)
    if settings.grafana_url:
        links["trace"] = grafana_trace_link(settings.grafana_url, trace_id, window)
    return links


def grafana_trace_link(grafana_url: str, trace_id: str, window: Window) -> str:
    """Grafana Explore (>= 10 `panes` form) on the Jaeger datasource: the trace waterfall."""
    source = {"type": "jaeger", "uid": GRAFANA_TRACES_UID}
    pane = {
        "datasource": GRAFANA_TRACES_UID,
        "queries": [{"refId": "A", "datasource": source, "query": trace_id}],
        "range": {
            "from": str(int(window.start.timestamp() * 1000)),
            "to": str(math.ceil(window.end.timestamp() * 1000)),
        },
    }
    panes = json.dumps({"trace": pane}, separators=(",", ":"))
    query = urlencode({"schemaVersion": "1", "panes": panes, "orgId": "1"}, quote_via=quote)
    return f"{base_url(grafana_url)}/explore?{query}"


def with_filter(query: str, extra: str) -> str:
    """`extra` AND the filter part of `query`, pipes kept after it: the one LogsQL query the
    UI needs for what query_logs ran as `query` + `extra_filters`."""
    cut = _first_pipe(query)
    head, tail = (query, "") if cut is None else (query[:cut], query[cut:])
    head = head.strip()
    joined = extra if head in ("", "*") else f"{extra} ({head})"
    return f"{joined} {tail.strip()}" if tail else joined


def _first_pipe(query: str) -> int | None:
    """Index of the first `|` outside quotes and parentheses (subqueries have their own)."""
    depth, quote_char, escaped = 0, "", False
    for index, char in enumerate(query):
        if quote_char:
            if escaped:
                escaped = False
            elif char == "\\" and quote_char != "`":
                escaped = True
            elif char == quote_char:
                quote_char = ""
        elif char in "\"'`":
            quote_char = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "|" and depth == 0:
            return index
    return None
