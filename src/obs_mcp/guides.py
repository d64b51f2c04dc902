"""Cheat sheets (MCP resources) and the investigate prompt: read on demand, so they cost
nothing in tools/list, yet stop an agent from inventing field names or query syntax."""

from __future__ import annotations

LOGSQL = """\
# LogsQL (query_logs; spans in VictoriaTraces use the same language)
Filters are ANDed by space: `severity_text:ERROR timeout` ; OR: `(a or b)` ; NOT: `-x` / `!x`
Exact: `"service.name":="shop"`  In: `status_code:in("2")`  Prefix: `_msg:checkout*`
Phrase: `"card declined"`  Regex: `_msg:~"id=[0-9]+"`  Range: `duration:>250000000`
Quote field names with ':' in them: `"resource_attr:service.name":="shop"`.
Pipes: `| fields _time, _msg` `| sort by (_time desc)` `| limit 20`
  `| stats by (name) count() total, count() if ("status_code":="2") errors,
     quantile(0.95, duration) p95 | sort by (errors desc)`
  `| stats uniq_values(trace_id) ids` `| stats max(_time) newest` `| stats count_uniq(trace_id)`
Log fields: _msg, _time, severity_text (ERROR/WARN/INFO), service.name, trace_id, span_id,
  exception.type / exception.message / exception.stacktrace, code.* attributes.
"""

PROMQL = """\
# MetricsQL / PromQL (query_metrics, VictoriaMetrics)
Names are Prometheus-style: OTel `orders.processed` counter -> `orders_processed_total`;
histograms -> `_bucket{le}`, `_sum`, `_count` (unit suffix, e.g. `_seconds`, `_milliseconds`).
The service label is `service_name` (from resource service.name).
List a service's metrics:  count by (__name__) ({service_name="shop"})
Rate of a counter:         sum by (service_name) (rate(orders_processed_total[5m]))
Latency p95 from histogram: histogram_quantile(0.95, sum by (le) (rate(X_bucket[5m])))
Error ratio (HTTP semconv): sum(rate(http_server_request_duration_seconds_count{
  http_response_status_code=~"5.."}[5m])) / sum(rate(http_server_request_duration_seconds_count[5m]))
MetricsQL extras: `rate(x)` without [d] picks the step; `tlast_over_time(x[1h])` = newest time.
"""

FIELDS = """\
# Field and metric names this stack produces
Spans (VictoriaTraces, LogsQL rows): trace_id, span_id, parent_span_id, name (operation),
  kind ("1" internal, "2" server, "3" client, "4" producer, "5" consumer),
  status_code ("2" = error), status_message, duration (ns), start_time_unix_nano,
  end_time_unix_nano, _time (= span end), "resource_attr:service.name",
  "span_attr:<key>" (http.route, http.response.status_code, db.system, run.id, code.function),
  exception events: "event:event_name:<i>"="exception",
  "event:event_attr:exception.type:<i>", ".message:<i>", ".stacktrace:<i>".
Logs (VictoriaLogs): _msg, _time, severity_text, severity_number, service.name, trace_id,
  span_id, exception.*, code.file.path / code.function.name / code.line.number.
Metrics (VictoriaMetrics): Prometheus naming, label service_name; the collector's own
  otelcol_* series are not stored (stack_health reads them live).
Durations in tool answers are ms; times RFC3339 UTC.
"""

INVESTIGATE = """\
Investigate the service {service} with the obs-mcp tools, in numbers:
1. service_overview(service="{service}"): RED per operation, top error signatures, newest
   ERROR logs, the services it calls and is called by. If it shows no data, run
   stack_health(service="{service}") and follow its hints before anything else.
2. top_errors(service="{service}"): pick the signature with the highest count; note its
   code_location and sample_trace_id.
3. correlate_trace(trace_id=<sample_trace_id>): read the failing span, its exception and
   stack trace, and the logs under it. Find the cause in the code at code_location.
4. Fix it. Note the time (or use a run id), re-run the same workload.
5. compare_runs(service="{service}", baseline_start=..., baseline_end=<fix time>) or with
   baseline_run/current_run: report the verdict and the figures it gives, e.g.
   "error rate 18.5% -> 0% (37/200 -> 0/200, z=-6.4), p95 100 -> 20 ms".
   If the verdict is insufficient_data, run more requests; never claim a fix from noise.
"""
