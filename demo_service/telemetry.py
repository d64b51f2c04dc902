"""Small helpers both services share: run-id tagging, logging setup and serving.

The SDK itself is configured by `opentelemetry-instrument` from OTEL_* variables;
this module only uses the OpenTelemetry *API*, so without the wrapper (e.g. in
unit tests) every call here is a cheap no-op.
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Mapping
from types import FrameType

import uvicorn
from opentelemetry import baggage, trace
from opentelemetry.util.types import AttributeValue
from starlette.requests import Request
from starlette.types import ASGIApp

RUN_ID_HEADER = "X-Run-Id"
RUN_ID_BAGGAGE_KEY = "run.id"
RUN_ID_ATTRIBUTE = "run.id"


def request_run_id(request: Request) -> str | None:
    """The load-test run a request belongs to: the header wins, baggage is the fallback."""
    header = request.headers.get(RUN_ID_HEADER)
    if header:
        return header.strip()
    value = baggage.get_baggage(RUN_ID_BAGGAGE_KEY)
    return str(value) if value else None


def tag_current_span(run_id: str | None, attributes: Mapping[str, AttributeValue]) -> None:
    """Put run.id and business attributes on the server span so queries can filter by run."""
    span = trace.get_current_span()
    if run_id:
        span.set_attribute(RUN_ID_ATTRIBUTE, run_id)
    if attributes:
        span.set_attributes(dict(attributes))


def configure_logging() -> None:
    """INFO to stderr (the runner's log file); the OTel handler on root exports the same records.

    With OTEL_PYTHON_LOG_CORRELATION=true the logging instrumentation already called
    basicConfig with a trace-id format, and this basicConfig is then a no-op.
    """
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
    )
    logging.getLogger().setLevel(logging.INFO)
    # httpx logs every request at INFO; that would double the log volume for no insight.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def base_arg_parser(description: str, default_port: int) -> argparse.ArgumentParser:
    """The flags every service accepts, so the launcher can start them uniformly."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    return parser


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(app: ASGIApp, host: str, port: int) -> None:
    """Run one uvicorn worker in this process (auto-instrumentation patched this process).

    log_config=None keeps uvicorn's own records on the root logger, so its errors are
    exported over OTLP like the app's; the access log is off because spans cover it.

    SIGTERM: uvicorn drains, then re-raises the signal under the handler it found at
    start. Under the default one the process would die there, before `atexit` runs the
    OpenTelemetry SDK's shutdown, losing the spans and logs still in the batch queues
    (up to OTEL_BSP_SCHEDULE_DELAY of them). This handler turns it into a normal exit.
    """
    configure_logging()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
    )
