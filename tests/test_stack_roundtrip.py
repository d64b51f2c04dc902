"""Each signal sent with the OTel SDK to the collector can be read back from its store."""

from __future__ import annotations

import json

import httpx2
import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from obs_mcp.stack.runner import Stack
from tests.otel_emit import emitter
from tests.waiting import wait_for

pytestmark = pytest.mark.stack


def _logsql(base: str, query: str) -> list[dict[str, str]]:
    answer = httpx2.get(f"{base}/select/logsql/query", params={"query": query}, timeout=10)
    answer.raise_for_status()
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def test_log_metric_and_trace_round_trip(native_stack: Stack) -> None:
    s = native_stack.settings
    em = emitter(s.otlp_http_url)
    counter = em.meter.create_counter("orders.processed")
    with em.tracer.start_as_current_span("GET /api/checkout", kind=SpanKind.SERVER) as root:
        with em.tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as child:
            child.set_attribute("http.response.status_code", 500)
            child.set_status(Status(StatusCode.ERROR, "card declined"))
            em.logger.error("charge failed for order %s", "o-17")
            log_span_id = format(child.get_span_context().span_id, "016x")
        with em.tracer.start_as_current_span("render"):
            pass
        trace_id = format(root.get_span_context().trace_id, "032x")
    counter.add(5, {"outcome": "ok"})
    counter.add(2, {"outcome": "error"})
    em.flush()

    logs = wait_for(lambda: _logsql(s.vl_url, f'trace_id:="{trace_id}"'))
    assert len(logs) == 1
    assert logs[0]["_msg"] == "charge failed for order o-17"
    assert logs[0]["span_id"] == log_span_id
    assert logs[0]["severity_text"] == "ERROR"
    assert logs[0]["service.name"] == em.service

    spans = wait_for(
        lambda: (lambda r: r if len(r) == 3 else None)(_logsql(s.vt_url, f'trace_id:="{trace_id}"'))
    )
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"GET /api/checkout", "charge card", "render"}
    assert by_name["charge card"]["status_code"] == "2"
    assert by_name["charge card"]["span_attr:http.response.status_code"] == "500"
    assert by_name["charge card"]["parent_span_id"] == by_name["GET /api/checkout"]["span_id"]
    assert by_name["GET /api/checkout"]["kind"] == "2"
    assert by_name["render"]["resource_attr:service.name"] == em.service
    assert int(by_name["render"]["duration"]) >= 0

    query = f'sum by (outcome) (orders_processed_total{{service_name="{em.service}"}})'

    def metric() -> dict[str, str] | None:
        data = httpx2.get(f"{s.vm_url}/api/v1/query", params={"query": query}, timeout=10).json()
        values = {r["metric"]["outcome"]: r["value"][1] for r in data["data"]["result"]}
        return values if len(values) == 2 else None

    assert wait_for(metric, timeout=30) == {"ok": "5", "error": "2"}
    em.shutdown()
