"""A process an agent's tool call starts: one span under the TRACEPARENT it inherited (if any).

`python tests/agent_child.py OUT SERVICE` exports span `child-work` of service SERVICE to
$OBS_CHILD_OTLP (the agents strip OTEL_* from their commands' env, so it comes by its own name)
and writes to OUT what it saw: its TRACEPARENT, the session ids the agent passed down, and the
ids of the span it made. The export is synchronous, so the span is sent before the file exists.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

SEEN = ("TRACEPARENT", "CLAUDE_CODE_SESSION_ID", "CODEX_THREAD_ID")


def main(out: Path, service: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    endpoint = f"{os.environ['OBS_CHILD_OTLP']}/v1/traces"
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    parent = extract({"traceparent": os.environ.get("TRACEPARENT", "")})
    with provider.get_tracer("agent-child").start_as_current_span("child-work", parent) as span:
        context = span.get_span_context()
    provider.shutdown()
    seen = {key: os.environ[key] for key in SEEN if key in os.environ}
    seen["span"] = f"{context.trace_id:032x}-{context.span_id:016x}"
    out.write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
