"""The child's OpenTelemetry environment for this stack, and the run's identity.

Every SDK (Python, Node, Go, Java, .NET) reads the same OTEL_* variables, so these alone
point any instrumented app at the collector: service name, endpoint, protocol, short
export intervals (data queryable about a second after it happens, not a minute), and
resource attributes with the run id that compare_runs and wait_for_data select by.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from obs_mcp.core.compare import RUN_ID

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# Launchers and servers say nothing about the app: the directory names it better.
LAUNCHERS = {"uv", "uvx", "poetry", "pipenv", "pdm", "hatch", "rye", "uvicorn", "gunicorn"}
LAUNCHERS |= {"hypercorn", "flask", "django-admin", "fastapi", "pytest", "bun", "deno", "make"}
LAUNCHERS |= {"node", "nodejs", "npm", "npx", "pnpm", "yarn", "sh", "bash", "env", "exec"}
EXPORT_INTERVALS = {
    "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans: ms between batch exports
    "OTEL_BLRP_SCHEDULE_DELAY": "200",  # log records
    "OTEL_METRIC_EXPORT_INTERVAL": "2000",  # metrics (VictoriaMetrics flushes every 2 s)
}


def _clean(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "app"


def default_service(argv: list[str], cwd: str) -> str:
    """The command's name, unless it is an interpreter or launcher: then the directory's."""
    name = os.path.basename(argv[0]) if argv else ""
    if not name or name in LAUNCHERS or re.match(r"^python(\d+(\.\d+)?)?$", name):
        name = os.path.basename(os.path.abspath(cwd))
    return _clean(name)


def new_run_id(service: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{service}-{stamp}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class TraceParent:
    trace_id: str
    span_id: str  # the parent of the run's span; "" when the run starts a trace
    flags: str = "01"

    @classmethod
    def inherited(cls, env: dict[str, str]) -> TraceParent | None:
        match = TRACEPARENT.match(env.get("TRACEPARENT", "").strip().lower())
        if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
            return None
        return cls(match.group(1), match.group(2), match.group(3))

    def child(self, span_id: str) -> str:
        return f"00-{self.trace_id}-{span_id}-{self.flags}"


def resource_attributes(existing: str | None, ours: dict[str, str]) -> str:
    """The user's OTEL_RESOURCE_ATTRIBUTES with ours appended (later keys win in SDKs)."""
    parts = [p for p in (existing or "").split(",") if p.strip()]
    keys = set(ours)
    parts = [p for p in parts if p.split("=", 1)[0].strip() not in keys]
    parts += [f"{k}={quote(v, safe='')}" for k, v in ours.items()]
    return ",".join(parts)


# Settings that would send the child's data elsewhere or nowhere: not inherited.
NOT_INHERITED = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_SDK_DISABLED",
)


def child_env(
    base: dict[str, str], service: str, run_id: str, endpoint: str, traceparent: str
) -> dict[str, str]:
    """The inherited environment pointed at this stack."""
    env = {k: v for k, v in base.items() if k not in NOT_INHERITED}
    env |= {
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_RESOURCE_ATTRIBUTES": resource_attributes(
            base.get("OTEL_RESOURCE_ATTRIBUTES"), {RUN_ID: run_id}
        ),
        "OBS_MCP_RUN_ID": run_id,
        "TRACEPARENT": traceparent,
        "PYTHONUNBUFFERED": base.get("PYTHONUNBUFFERED", "1"),  # lines as they happen
        **EXPORT_INTERVALS,
    }
    return env
