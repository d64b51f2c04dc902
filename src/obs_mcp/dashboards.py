"""Grafana dashboards for the compose `dashboard` profile, generated from the query core.

Every span panel selects requests with entry_spans_where and errors with REQUEST_ERROR, so a
dashboard counts exactly what error_rate counts; only the template variables differ from a
tool's literals. As in the tools, a request belongs to the range its span ENDS in (exact, on
end_time_unix_nano) and the store is asked from REQUEST_SLACK earlier (a real VictoriaTraces
stores `_time` = span start). stats_query_range then places each request at its stored
`_time` (it refuses pipes that rewrite `_time`): its end under vt-compat, its start on a real
VictoriaTraces, a shift of the request's own duration; request_series (the terminal view and
the report) buckets by end time exactly. Per-bucket percentiles are VictoriaLogs quantile()
estimates (a sampled quantile, not the exact nearest rank), and their titles say so.

`python -m obs_mcp.dashboards` rewrites compose/grafana/provisioning/dashboards/json/;
tests/test_dashboards.py fails when the committed files differ from what this generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from obs_mcp.core.fields import LOG_SERVICE, SERVICE
from obs_mcp.core.requests import (
    PARENT_SLACK,
    REQUEST_ERROR,
    REQUEST_SLACK,
    entry_spans_where,
    server_kinds,
)
from obs_mcp.core.signatures import ERROR_LOG
from obs_mcp.queries import logsql_exact

OUT_DIR = Path(__file__).resolve().parents[2] / "compose/grafana/provisioning/dashboards/json"
VM = {"type": "victoriametrics-metrics-datasource", "uid": "victoriametrics"}
VL = {"type": "victoriametrics-logs-datasource", "uid": "victorialogs"}
VT = {"type": "victoriametrics-logs-datasource", "uid": "victoriatraces-logsql"}
JAEGER_UID = "victoriatraces"
SERVICE_VAR = "$service"
FROM, TO = "${__from:date:iso}", "${__to:date:iso}"
SLACK_S, PARENT_S = int(REQUEST_SLACK.total_seconds()), int(PARENT_SLACK.total_seconds())
# ends_in(window) with Grafana's range: ${__from}/${__to} are unix ms, the field unix ns.
ENDS = 'end_time_unix_nano:string_range("${__from}000000", "${__to}000000")'
# store_window(window): the dashboard's range from REQUEST_SLACK earlier, instead of its own
# (`offset d` moves a time filter d into the past).
STORE_RANGE = f"_time:>={FROM} offset {SLACK_S}s _time:<={TO}"
# The parents' range entry_spans uses: [start - both slacks, end + PARENT_SLACK].
PARENTS_RANGE = f"_time:>={FROM} offset {SLACK_S + PARENT_S}s _time:<={TO} offset -{PARENT_S}s"
ENTRY = "options(ignore_global_time_filter=true) " + entry_spans_where(
    logsql_exact(SERVICE, SERVICE_VAR), f"{STORE_RANGE} {ENDS}", PARENTS_RANGE
)
PLACED = (
    "requests ending in the range (as error_rate counts them), each drawn at its span's stored "
    "time: its end under vt-compat, its start on a real VictoriaTraces"
)
ESTIMATE = "VictoriaLogs quantile() estimates; exact figures: obs-mcp errors / report"


def _grid(index: int, width: int = 12, height: int = 8) -> dict[str, int]:
    per_row = 24 // width
    return {"x": (index % per_row) * width, "y": (index // per_row) * height, "w": width,
            "h": height}  # fmt: skip


def _logsql(expr: str, query_type: str, ref: str = "A", legend: str = "") -> dict[str, Any]:
    target: dict[str, Any] = {"refId": ref, "expr": expr, "queryType": query_type}
    if legend:
        target["legendFormat"] = legend
    return target


def _promql(expr: str, ref: str = "A", legend: str = "") -> dict[str, Any]:
    return {"refId": ref, "expr": expr, "legendFormat": legend or "__auto", "range": True}


def _panel(
    title: str,
    kind: str,
    datasource: dict[str, str],
    targets: list[dict[str, Any]],
    index: int,
    unit: str = "",
    description: str = "",
    width: int = 12,
) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "id": index + 1,
        "title": title,
        "type": kind,
        "datasource": datasource,
        "targets": [{**t, "datasource": datasource} for t in targets],
        "gridPos": _grid(index, width),
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
        "options": {},
    }
    if description:
        panel["description"] = description
    return panel


def _trace_links(panel: dict[str, Any]) -> dict[str, Any]:
    """A click on a trace id opens the trace view (Jaeger API of VictoriaTraces) in Explore."""
    link = {
        "title": "open trace",
        "url": "",
        "internal": {"datasourceUid": JAEGER_UID, "datasourceName": "VictoriaTraces",
                     "query": {"query": "${__value.raw}", "queryType": "traceId"}},
    }  # fmt: skip
    panel["fieldConfig"]["overrides"] = [
        {"matcher": {"id": "byName", "options": "trace_id"},
         "properties": [{"id": "links", "value": [link]}]}
    ]  # fmt: skip
    return panel


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], variables: list[Any]) -> Any:
    return {
        "uid": uid,
        "title": title,
        "tags": ["obs-mcp"],
        "timezone": "utc",
        "schemaVersion": 41,
        "time": {"from": "now-30m", "to": "now"},
        "refresh": "10s",
        "templating": {"list": variables},
        "panels": panels,
    }


def _service_variable() -> dict[str, Any]:
    """Services that served requests, read from VictoriaTraces (field values)."""
    return {
        "name": "service",
        "label": "service",
        "type": "query",
        "datasource": VT,
        "query": {"type": "fieldValue", "field": SERVICE, "query": server_kinds(), "limit": 200},
        "refresh": 2,
        "sort": 1,
    }


def service_red() -> Any:
    # range panels keep `_time` (the bucket) in `fields`: the LogsQL of VictoriaLogs v1.25,
    # inside VictoriaTraces builds of mid-2025, rejects a range query that drops it
    by_op = f"{ENTRY} | stats by (name)"
    pct = "quantile(0.5, duration) p50, quantile(0.95, duration) p95, quantile(0.99, duration) p99"
    panels = [
        _panel("Requests/s per operation", "timeseries", VT,
               [_logsql(f"{by_op} rate() requests_per_s", "statsRange", legend="{{name}}")],
               0, "reqps", description=PLACED),
        _panel("Error rate per operation (errors / requests)", "timeseries", VT,
               [_logsql(f"{by_op} count() requests, count() if ({REQUEST_ERROR}) errors "
                        "| math errors / requests as error_ratio | fields _time, name, error_ratio",
                        "statsRange", legend="{{name}}")],
               1, "percentunit", description=PLACED),
        _panel(f"Latency p50 / p95 / p99, all requests ({ESTIMATE})", "timeseries", VT,
               [_logsql(f"{ENTRY} | stats {pct} | math p50 / 1e6 as p50_ms, p95 / 1e6 as p95_ms, "
                        "p99 / 1e6 as p99_ms | fields _time, p50_ms, p95_ms, p99_ms", "statsRange")],
               2, "ms", description=f"request = entry span; durations from span data; {PLACED}"),
        _panel(f"Latency p95 per operation ({ESTIMATE})", "timeseries", VT,
               [_logsql(f"{by_op} quantile(0.95, duration) p95 | math p95 / 1e6 as p95_ms "
                        "| fields _time, name, p95_ms", "statsRange", legend="{{name}}")],
               3, "ms"),
        _panel("Error logs", "logs", VL,
               [_logsql(f"{logsql_exact(LOG_SERVICE, SERVICE_VAR)} ({ERROR_LOG})", "instant")],
               4, width=24),
        _trace_links(_panel(
            "Failing requests (newest): click a trace id for its trace", "table", VT,
            [_logsql(f"{ENTRY} ({REQUEST_ERROR}) | sort by (end_time_unix_nano desc) | limit 20 "
                     "| fields _time, trace_id, name, duration, status_message", "instant")],
            5)),
        _trace_links(_panel(
            "Slowest requests: click a trace id for its trace", "table", VT,
            [_logsql(f"{ENTRY} | sort by (duration desc) | limit 20 "
                     "| fields _time, trace_id, name, duration", "instant")],
            6)),
    ]  # fmt: skip
    return _dashboard("obs-service-red", "Service RED (from spans)", panels, [_service_variable()])


def _counter(name: str) -> str:
    """A collector counter, scraped with or without `_total` (0.158 exposes it without)."""
    return f'{{__name__=~"{name}(_total)?"}}'


def stack_health() -> Any:
    signals = (("spans", "A"), ("metric_points", "B"), ("log_records", "C"))
    rate = "[$__rate_interval]"

    def per_signal(kind: str) -> list[dict[str, Any]]:
        return [
            _promql(f"sum(rate({_counter(f'otelcol_receiver_{kind}_{signal}')}{rate}))", ref,
                    signal)
            for signal, ref in signals
        ]  # fmt: skip

    def per_exporter(kind: str) -> list[dict[str, Any]]:
        """Failed sends only exist once one failed: 0 beside every exporter that sent."""
        out = []
        for signal, ref in signals:
            sent = f"sum by (exporter) (rate({_counter(f'otelcol_exporter_sent_{signal}')}{rate}))"
            own = f"sum by (exporter) (rate({_counter(f'otelcol_exporter_{kind}_{signal}')}{rate}))"
            expr = sent if kind == "sent" else f"{own} or (0 * {sent})"
            out.append(_promql(expr, ref, "{{exporter}}"))
        return out

    panels = [
        _panel("Collector: accepted per second", "timeseries", VM, per_signal("accepted"), 0),
        _panel("Collector: refused per second", "timeseries", VM, per_signal("refused"), 1),
        _panel("Collector -> stores: sent per second", "timeseries", VM, per_exporter("sent"), 2),
        _panel("Collector -> stores: failed sends per second", "timeseries", VM,
               per_exporter("send_failed"), 3),
        _panel("Collector export queue (batches waiting / capacity)", "timeseries", VM,
               [_promql("sum by (exporter) (otelcol_exporter_queue_size)", "A", "{{exporter}} queued"),
                _promql("sum by (exporter) (otelcol_exporter_queue_capacity)", "B",
                        "{{exporter}} capacity")], 4),
        _panel("Store ingestion: rows per second", "timeseries", VM,
               # VictoriaLogs counts vl_, a real VictoriaTraces vt_ (vt-compat passes its
               # span store's vl_ through): one query, one series per store job
               [_promql(f'sum by (job) (rate({{__name__=~"(vl|vt)_rows_ingested_total"}}{rate}))',
                        "A", "{{job}}"),
                _promql(f"sum(rate(vm_rows_inserted_total{rate}))", "B", "victoriametrics")],
               5),
    ]  # fmt: skip
    return _dashboard("obs-stack-health", "Stack health (collector and stores)", panels, [])


CLAUDE = logsql_exact(LOG_SERVICE, "claude-code")


def agents() -> Any:
    tool_results = f"{CLAUDE} {logsql_exact('event.name', 'tool_result')}"
    panels = [
        _panel("Claude Code tokens per second, by kind", "timeseries", VM,
               [_promql("sum by (type) (rate(claude_code_token_usage_tokens_total"
                        "[$__rate_interval]))", legend="{{type}}")], 0),
        _panel("Claude Code cost (USD, cumulative), by model", "timeseries", VM,
               [_promql("sum by (model) (claude_code_cost_usage_USD_total)", legend="{{model}}")],
               1, "currencyUSD"),
        _panel("Claude Code tool calls, by tool", "timeseries", VL,
               [_logsql(f"{tool_results} | stats by (tool_name) count() calls", "statsRange",
                        legend="{{tool_name}}")], 2),
        _panel("Claude Code tool calls per session", "table", VL,
               [_logsql(f'{tool_results} | stats by ("session.id") count() calls, '
                        "count() if (success:=false) failed | sort by (calls desc) | limit 50",
                        "instant")], 3),
        _panel("Claude Code API requests: cost and tokens per session", "table", VL,
               [_logsql(f"{CLAUDE} {logsql_exact('event.name', 'api_request')} "
                        '| stats by ("session.id") count() requests, sum(cost_usd) cost_usd, '
                        "sum(input_tokens) input_tokens, sum(output_tokens) output_tokens "
                        "| sort by (cost_usd desc) | limit 50", "instant")], 4),
        _panel("Codex tool calls, by tool", "timeseries", VL,
               [_logsql(f'{LOG_SERVICE_CODEX} {logsql_exact("event.name", "codex.tool_result")} '
                        "| stats by (tool_name) count() calls", "statsRange",
                        legend="{{tool_name}}")], 5),
    ]  # fmt: skip
    return _dashboard("obs-agents", "Coding agents' own usage", panels, [])


LOG_SERVICE_CODEX = '"service.name":~"codex"'
DASHBOARDS = {"service-red.json": service_red, "stack-health.json": stack_health,
              "agents.json": agents}  # fmt: skip


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, build in DASHBOARDS.items():
        (OUT_DIR / name).write_text(render(build))
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
