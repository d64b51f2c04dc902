"""The OpenTelemetry SDK export delays this project sets and recommends, each with its reason.

An app's data waits in the SDK first, then in the collector's batch (200 ms,
collector/config.yaml), then in the store until it flushes (or the tools force-flush it): the
SDK's defaults (metrics every 60 s, spans every 5 s) would dwarf the rest. The demo, the docs
(AGENTS.md), `stack_health`'s hints and `agent-env` all use these values.
"""

from __future__ import annotations

APP_EXPORT_ENV = {
    # a metric point leaves the app within 1 s (SDK default 60 s): a re-run shows at once;
    # costs one small OTLP request a second on loopback
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    # ended spans leave within 200 ms (default 5 s), the collector's own batch timeout
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    # log records likewise (default 1 s); a full batch (512) is sent at once either way
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
}

# Claude Code's own telemetry (its metrics and events; OTEL_LOGS_EXPORT_INTERVAL is its
# events' batch delay): 1 s, so a turn's cost and tool calls are queryable before the next
# turn (its defaults: 60 s and 5 s).
AGENT_EXPORT_ENV = {
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_LOGS_EXPORT_INTERVAL": "1000",
}
