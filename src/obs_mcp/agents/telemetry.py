"""`agent-env`: the settings that make Claude Code and Codex send their OWN telemetry here."""

from __future__ import annotations

import json

from obs_mcp.agents.tomledit import inline_value
from obs_mcp.pipeline import AGENT_EXPORT_ENV
from obs_mcp.stack.runner import StackSettings


def claude_code_telemetry_env(settings: StackSettings, traces: bool = True) -> dict[str, str]:
    """Env that makes Claude Code export its own metrics and events over OTLP/HTTP to the stack."""
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": settings.otlp_http_url,
        **AGENT_EXPORT_ENV,  # obs_mcp/pipeline.py: 1 s, with the reason
        # Claude Code exports delta sums by default; VictoriaMetrics stores deltas as they come,
        # so `sum by (type) (claude_code_token_usage_tokens_total)` would show the last export
        # interval only. Cumulative makes the counters Prometheus-style running totals.
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
        # tool_result events then name the MCP server/tool and parameters (local stack only)
        "OTEL_LOG_TOOL_DETAILS": "1",
    }
    if traces:
        env["CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"] = "1"
        env["OTEL_TRACES_EXPORTER"] = "otlp"
        # With tracing on, Claude Code gives each Bash command a TRACEPARENT of its tool span,
        # but only when it talks to api.anthropic.com; this flag extends that to any
        # ANTHROPIC_BASE_URL (a gateway, a proxy, a local model server), and makes it send
        # `traceparent` to that endpoint too. Read in Claude Code 2.1.332 and checked by
        # tests/test_agent_sessions.py; upstream: anthropics/claude-code#45483.
        env["CLAUDE_CODE_PROPAGATE_TRACEPARENT"] = "1"
    return env


def claude_code_telemetry_text(settings: StackSettings, *, as_settings: bool, traces: bool) -> str:
    env = claude_code_telemetry_env(settings, traces)
    if as_settings:
        return json.dumps({"env": env}, indent=2)
    lines = [
        f"# Claude Code -> obs-mcp stack (OTLP/HTTP {settings.otlp_http_url}).",
        "# Put these in your shell profile, or the same keys in the `env` block of",
        "# ~/.claude/settings.json (`obs-mcp agent-env claude-code --settings`).",
        *(f"export {key}={value}" for key, value in env.items()),
    ]
    return "\n".join(lines)


def codex_telemetry_toml(settings: StackSettings) -> str:
    """Codex's `[otel]` table: one OTLP/HTTP exporter per signal (full /v1/... URLs)."""
    base = settings.otlp_http_url

    def exporter(signal: str) -> str:
        return inline_value(
            {"otlp-http": {"endpoint": f"{base}/v1/{signal}", "protocol": "binary"}}
        )

    return "\n".join(
        [
            "# Codex -> obs-mcp stack: add to ~/.codex/config.toml ($CODEX_HOME/config.toml);",
            "# a file holds one [otel] table. Codex continues an inherited TRACEPARENT (so a",
            "# `codex exec` started by Claude Code nests under it) but sets none for the",
            "# commands it runs (0.171): they only see one Codex itself inherited.",
            "[otel]",
            'environment = "dev"',
            "log_user_prompt = false",
            f"exporter = {exporter('logs')}",
            f"metrics_exporter = {exporter('metrics')}",
            f"trace_exporter = {exporter('traces')}",
        ]
    )
