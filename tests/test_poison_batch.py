"""A batch the span store refuses is dropped and counted by the collector, not retried forever.

The refusal is the real backend's: VictoriaLogs cannot hold a timestamp past 2262 (int64
nanoseconds) and answers 400 to a batch whose spans all end later. vt-compat passes that
on as 400, the collector drops the batch (OTLP/HTTP: not retryable), and later batches land.
"""

from __future__ import annotations

import time
import uuid

import httpx2
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from obs_mcp.core.health import parse_collector_metrics
from obs_mcp.stack.runner import Stack
from tests.faultkit import span_count
from tests.otel_emit import post_traces
from tests.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.vtcompat]
BEYOND_INT64_NS = 2**64 - 1  # a valid OTLP fixed64, past what VictoriaLogs' _time can hold
POISON_BATCHES = 5  # more than the exporter's 4 queue consumers: retried, they would stall all


def _export(otlp_http_url: str, service: str, end_ns: int) -> None:
    """One span as a raw OTLP/HTTP request to the collector: a batch of its own."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    resource_spans.scope_spans.add().spans.add(
        trace_id=uuid.uuid4().bytes,
        span_id=uuid.uuid4().bytes[:8],
        name="GET /poison" if end_ns == BEYOND_INT64_NS else "GET /fine",
        kind=2,
        start_time_unix_nano=time.time_ns() - 1_000_000,
        end_time_unix_nano=end_ns,
    )
    post_traces(f"{otlp_http_url}/v1/traces", request)


def _failed_spans(stack: Stack) -> int:
    text = httpx2.get(stack.settings.collector_metrics_url, timeout=5).text
    return parse_collector_metrics(text, stack.settings.collector_metrics_url).send_failed.get(
        "traces", 0
    )


def _wait_failed(stack: Stack, want: int) -> None:
    """The collector counts the batch as failed only once it gave up on it (never, if retried)."""
    wait_for(lambda: _failed_spans(stack) == want, timeout=20)


def test_refused_batch_is_dropped_counted_and_logged_and_the_next_lands(
    native_stack: Stack,
) -> None:
    s = native_stack.settings
    poison, fine = f"poison-{uuid.uuid4().hex[:8]}", f"fine-{uuid.uuid4().hex[:8]}"
    before = _failed_spans(native_stack)
    for i in range(1, POISON_BATCHES + 1):
        _export(s.otlp_http_url, poison, BEYOND_INT64_NS)
        _wait_failed(native_stack, before + i)
    _export(s.otlp_http_url, fine, time.time_ns())
    wait_for(lambda: span_count(native_stack, fine) == 1, timeout=20)
    assert span_count(native_stack, poison) == 0
    log = native_stack.log_path("victoriatraces").read_text()
    refusals = [line for line in log.splitlines() if f"services: {poison};" in line]
    assert len(refusals) == POISON_BATCHES, refusals  # within the 5-a-minute log budget
    assert "cannot parse unix timestamp" in refusals[0]
    assert all(len(line) < 1200 for line in refusals), "a refusal's log line must stay bounded"
