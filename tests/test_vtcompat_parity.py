"""vt-compat writes a span exactly as a real VictoriaTraces stores it (run with
OBS_MCP_VICTORIATRACES_BIN naming a real victoria-traces; skipped under vt-compat).

The same OTLP request goes to the real store and through vt-compat's row builder; every
field and value must match, except what the store adds itself (`_stream`, `_stream_id`)
and `_time`, whose choice (span start or end) differs between VictoriaTraces releases. A
build from before the first release (July 2025) is compared in the released event layout
and without the zero counters only it writes.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx2
import pytest

from obs_mcp.stack.runner import Stack
from obs_mcp.stack.vtcompat import span_rows
from tests.otel_emit import post_traces
from tests.test_vtcompat_unit import _request
from tests.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.realvt]
STORE_OWN = {"_stream", "_stream_id", "_time"}
BOOKKEEPING = {
    "flags", "dropped_attributes_count", "dropped_events_count", "dropped_links_count",
    "event:event_dropped_attributes_count", "link:link_dropped_attributes_count",
}  # fmt: skip


def _released_layout(key: str) -> str:
    """`event:0:event_name` (builds before v0.1.0, July 2025) -> `event:event_name:0`, as every
    release and vt-compat name it; the tools read both (obs_mcp.core.fields.span_events)."""
    kind, index, field = [*key.split(":", 2), "", ""][:3]
    if kind in ("event", "link") and index.isdigit() and field:
        return f"{kind}:{field}:{index}"
    return key


def _bookkeeping(key: str) -> bool:
    """Zero counters a pre-release build writes on every span and releases leave out (v0.9.0
    matched vt-compat without them); no tool reads them."""
    plain = key.rsplit(":", 1)[0] if key.startswith(("event:", "link:")) else key
    return plain in BOOKKEEPING


def test_vtcompat_rows_match_what_victoriatraces_stores(native_stack: Stack) -> None:
    request = _request()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.trace_id = uuid.uuid4().bytes  # this run's span only
    now = time.time_ns()
    span.start_time_unix_nano, span.end_time_unix_nano = now - 250_000_000, now
    span.events[0].time_unix_nano = now - 100_000_000
    vt = native_stack.settings.vt_url
    post_traces(f"{vt}/insert/opentelemetry/v1/traces", request)

    def stored() -> list[dict[str, str]]:
        params = {"query": f'trace_id:="{span.trace_id.hex()}" span_id:*', "start": "1h"}
        text = httpx2.get(
            f"{vt}/select/logsql/query",
            params={**params, "disable_latency_offset": "true"},
            timeout=10,
        ).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    (real,) = wait_for(stored, timeout=30)
    (ours,) = list(span_rows(request))
    real_fields = {
        _released_layout(k): v
        for k, v in real.items()
        if k not in STORE_OWN and not (_bookkeeping(_released_layout(k)) and v == "0")
    }
    our_fields = {k: v for k, v in ours.items() if k not in STORE_OWN}
    assert our_fields == real_fields
