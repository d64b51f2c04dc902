"""Every Grafana panel's query, sent as the datasource plugin sends it, returns data for
known telemetry on the real stores (Grafana itself cannot run here).

The plugins' request shapes, read from their sources at the pinned versions:
victoriametrics-logs-datasource 0.30.1 (pkg/plugin/query.go): `statsRange` ->
/select/logsql/stats_query_range with start/end in unix seconds and a step; `instant` ->
/select/logsql/query with start/end and limit; the datasource's customQueryParameters are
added to every request; dashboard variables are replaced in the frontend (a single value goes
in raw). victoriametrics-metrics-datasource 0.25.1: /api/v1/query_range.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from obs_mcp import dashboards
from obs_mcp.stack.runner import Stack
from tests.known_telemetry import promql_instant, wait_for_count
from tests.otel_emit import emitter
from tests.otlp_direct import LogSpec, send_logs
from tests.picture_telemetry import S, Trend
from tests.waiting import wait_for

pytestmark = [pytest.mark.stack]
ROOT = Path(__file__).resolve().parents[1]
DATASOURCES = ROOT / "compose/grafana/provisioning/datasources/datasources.yaml"
STEP = "10s"


@pytest.fixture(scope="module")
def agent_session(native_stack: Stack) -> str:
    """What Claude Code and Codex send about themselves (names as AGENTS.md lists them)."""
    s = native_stack.settings
    session = uuid.uuid4().hex
    em = emitter(s.otlp_http_url, "claude-code")
    tokens = em.meter.create_counter("claude_code.token.usage", unit="tokens")
    cost = em.meter.create_counter("claude_code.cost.usage", unit="USD")
    for kind, n in (("input", 1200), ("output", 300), ("cacheRead", 5000)):
        tokens.add(n, {"type": kind, "model": "claude-test", "session.id": session})
    cost.add(0.25, {"model": "claude-test", "session.id": session})
    em.shutdown()
    now = time.time_ns() - 60 * S
    base = {"session.id": session}
    logs = [
        LogSpec("claude-code", now + i * S, "claude_code.tool_result",
                attributes={**base, "event.name": "tool_result", "tool_name": tool,
                            "success": "true" if ok else "false", "duration_ms": 12})
        for i, (tool, ok) in enumerate([("Bash", True), ("Read", True), ("mcp_tool", False)])
    ] + [
        LogSpec("claude-code", now + 5 * S, "claude_code.api_request",
                attributes={**base, "event.name": "api_request", "cost_usd": "0.25",
                            "input_tokens": 1200, "output_tokens": 300, "model": "claude-test"}),
        LogSpec("codex_exec", now + 6 * S, "codex.tool_result",
                attributes={**base, "event.name": "codex.tool_result", "tool_name": "shell"}),
    ]  # fmt: skip
    send_logs(s.otlp_http_url, logs)
    wait_for_count(s.vl_url, f'"session.id":="{session}"', len(logs))
    query = f'sum(claude_code_cost_usage_USD_total{{session_id="{session}"}})'
    wait_for(lambda: promql_instant(s.vm_url, query), timeout=45, interval=0.5)
    return session


def iso_ms(moment: datetime) -> str:
    """Grafana's ${__from:date:iso}: JavaScript's toISOString()."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def interpolate(expr: str, variables: dict[str, str], start: datetime, end: datetime) -> str:
    """What reaches the plugin's backend: global time macros, then single-value variables."""
    expr = expr.replace("${__from:date:iso}", iso_ms(start)).replace(
        "${__to:date:iso}", iso_ms(end)
    )
    for name, moment in (("__from", start), ("__to", end)):  # unix ms
        expr = expr.replace("${" + name + "}", str(int(moment.timestamp() * 1000)))
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", STEP)
    for name, value in variables.items():
        expr = re.sub(r"\$\{" + name + r"\}|\$" + name + r"\b", value, expr)
    assert "$" not in expr.replace("$__", ""), f"uninterpolated variable left in {expr}"
    return expr


def datasources() -> dict[str, dict[str, Any]]:
    return {d["uid"]: d for d in yaml.safe_load(DATASOURCES.read_text())["datasources"]}


def base_url(stack: Stack, uid: str) -> str:
    s = stack.settings
    return {"victoriametrics": s.vm_url, "victorialogs": s.vl_url,
            "victoriatraces-logsql": s.vt_url}[uid]  # fmt: skip


def send(stack: Stack, uid: str, target: dict[str, Any], expr: str, start: datetime,
         end: datetime) -> list[Any]:  # fmt: skip
    """The plugin's request; the series (range queries) or rows (log queries) it answers."""
    params: dict[str, str] = {"query": expr, "start": str(int(start.timestamp())),
                              "end": str(int(end.timestamp()))}  # fmt: skip
    extra = datasources()[uid].get("jsonData", {}).get("customQueryParameters", "")
    params.update(dict(p.split("=", 1) for p in extra.split("&") if p))
    base = base_url(stack, uid)
    if uid == "victoriametrics":
        answer = httpx2.get(f"{base}/api/v1/query_range", params={**params, "step": STEP})
    elif target["queryType"] == "statsRange":
        answer = httpx2.get(f"{base}/select/logsql/stats_query_range",
                            params={**params, "step": STEP})  # fmt: skip
    else:
        answer = httpx2.get(f"{base}/select/logsql/query", params={**params, "limit": "1000"})
    assert answer.status_code == 200, f"{expr}: HTTP {answer.status_code} {answer.text[:300]}"
    if target.get("queryType") == "instant":
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]
    result: list[Any] = answer.json()["data"]["result"]
    return result


def test_committed_dashboards_are_what_the_core_generates() -> None:
    for name, build in dashboards.DASHBOARDS.items():
        committed = (dashboards.OUT_DIR / name).read_text()
        assert committed == dashboards.render(build), (
            f"{name} differs from the generator: run `python -m obs_mcp.dashboards`"
        )


def test_every_panel_uses_a_provisioned_datasource_and_links_to_the_trace_view() -> None:
    known = datasources()
    for build in dashboards.DASHBOARDS.values():
        board = build()
        for panel in board["panels"]:
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in known
                assert target["datasource"]["type"] == known[target["datasource"]["uid"]]["type"]
            for override in panel["fieldConfig"]["overrides"]:
                for link in override["properties"][0]["value"]:
                    assert known[link["internal"]["datasourceUid"]]["type"] == "jaeger"


def _stack_metrics(stack: Stack) -> None:
    """VictoriaMetrics scrapes the collector and the stores every 5 s (collector/scrape.yaml):
    wait until each counter has counted and a 10 s step's rate has two scrapes to use."""
    vm = stack.settings.vm_url
    signals = ("spans", "metric_points", "log_records")
    names = [f"otelcol_{kind}_{signal}" for kind in ("receiver_accepted", "exporter_sent")
             for signal in signals] + ["vl_rows_ingested_total", "vm_rows_inserted_total"]  # fmt: skip
    queries = [f'sum(rate({{__name__=~"{name}(_total)?"}}[1m]))' for name in names]
    queries.append('sum(rate({__name__=~"(vl|vt)_rows_ingested_total", job="victoriatraces"}[1m]))')
    for query in queries:

        def rated(q: str = query) -> bool:
            now = int(time.time())
            answer = httpx2.get(f"{vm}/api/v1/query_range",
                                params={"query": q, "start": now - 120, "end": now, "step": STEP})  # fmt: skip
            return bool(answer.json()["data"]["result"])

        wait_for(rated, timeout=90, interval=1)


def test_every_panel_returns_data_for_known_telemetry(
    native_stack: Stack, trend: Trend, agent_session: str
) -> None:
    _stack_metrics(native_stack)
    end = datetime.now(UTC)
    start = datetime.fromtimestamp((trend.base - 120 * S) / S, UTC)
    empty = []
    answers: dict[str, list[Any]] = {}
    for build in dashboards.DASHBOARDS.values():
        for panel in build()["panels"]:
            for target in panel["targets"]:
                uid = target["datasource"]["uid"]
                expr = interpolate(target["expr"], {"service": trend.service}, start, end)
                found = send(native_stack, uid, target, expr, start, end)
                answers[f"{panel['title']} {target['refId']}"] = found
                if not found:
                    empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
    # the figures themselves: the span panels count what the plan emitted
    rates = answers["Requests/s per operation A"]
    requests = sum(float(v) * 10 for series in rates for _, v in series["values"])
    assert round(requests) == sum(b.requests for b in trend.buckets)
    [slowest, *_] = answers["Slowest requests: click a trace id for its trace A"]
    assert slowest["trace_id"] == trend.slow_trace_id
    failing = answers["Failing requests (newest): click a trace id for its trace A"]
    assert {r["trace_id"] for r in failing} <= set(trend.error_trace_ids) and len(failing) == 12
    # each store is its own series: the span store too, real VictoriaTraces (vt_) or vt-compat
    ingest = answers["Store ingestion: rows per second A"]
    assert {series["metric"]["job"] for series in ingest} >= {"victorialogs", "victoriatraces"}
    sessions = answers["Claude Code tool calls per session A"]
    mine = [r for r in sessions if r.get("session.id") == agent_session]
    assert mine and mine[0]["calls"] == "3" and mine[0]["failed"] == "1"


def test_the_service_variable_lists_the_service(native_stack: Stack, trend: Trend) -> None:
    """The variable's field-values query, as the plugin's language provider sends it."""
    [variable] = dashboards.service_red()["templating"]["list"]
    query = variable["query"]
    answer = httpx2.get(
        f"{native_stack.settings.vt_url}/select/logsql/field_values",
        params={"query": query["query"], "field": query["field"], "limit": str(query["limit"]),
                "start": str(trend.base // S - 60), "end": str(int(time.time())),
                "disable_latency_offset": "true"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert trend.service in {v["value"] for v in answer.json()["values"]}
