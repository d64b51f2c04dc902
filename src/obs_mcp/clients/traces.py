"""VictoriaTraces through its LogsQL API: every span is a row (`trace_id`, `duration` ns, ...).

The Jaeger API is not used: LogsQL `stats` gives exact aggregates over all spans, and
the same queries work against vt-compat.
"""

from __future__ import annotations

from typing import ClassVar

from obs_mcp.clients.logsql import LogsQLClient


class TracesClient(LogsQLClient):
    # VictoriaTraces >= 0.12 hides the newest 30s from LogsQL unless told not to.
    extra_params: ClassVar[dict[str, str]] = {"disable_latency_offset": "true"}
