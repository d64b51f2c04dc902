"""One small client per store: each knows its HTTP API and nothing about tools."""

from obs_mcp.clients.logs import LogsClient
from obs_mcp.clients.metrics import MetricsClient
from obs_mcp.clients.traces import TracesClient

__all__ = ["LogsClient", "MetricsClient", "TracesClient"]
