"""Emit known telemetry with the OpenTelemetry Python SDK over OTLP/HTTP, flushed on demand."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import httpx2
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import Meter, MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


@dataclass
class Emitter:
    """SDK providers for one service; `flush()` pushes everything to the collector now."""

    service: str
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    reader: PeriodicExportingMetricReader
    logger: logging.Logger

    @property
    def tracer(self) -> Tracer:
        return self.tracer_provider.get_tracer("obs-mcp-tests")  # type: ignore[return-value]

    @property
    def meter(self) -> Meter:
        return self.meter_provider.get_meter("obs-mcp-tests")  # type: ignore[return-value]

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()
        self.reader.force_flush()

    def shutdown(self) -> None:
        self.flush()
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


def emitter(
    otlp_http_url: str,
    service: str | None = None,
    endpoints: dict[str, str] | None = None,
    **resource: str,
) -> Emitter:
    """`endpoints` ({"traces"|"metrics"|"logs": full URL}) overrides the collector's per-signal
    URLs, e.g. to write straight into a store."""
    service = service or f"svc-{uuid.uuid4().hex[:8]}"
    urls = {signal: f"{otlp_http_url}/v1/{signal}" for signal in ("traces", "metrics", "logs")}
    urls |= endpoints or {}
    res = Resource.create({"service.name": service, **resource})
    tracer_provider = TracerProvider(resource=res)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=urls["traces"]))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=urls["metrics"]), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=res, metric_readers=[reader])
    logger_provider = LoggerProvider(resource=res)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=urls["logs"]))
    )
    logger = logging.getLogger(f"obs-mcp-tests.{service}")
    logger.handlers = [LoggingHandler(logger_provider=logger_provider)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return Emitter(service, tracer_provider, meter_provider, logger_provider, reader, logger)


def post_traces(url: str, request: ExportTraceServiceRequest) -> None:
    """One raw OTLP/HTTP protobuf request (exactly these spans, in a batch of their own)."""
    answer = httpx2.post(
        url,
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=10,
    )
    assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:300]}"
