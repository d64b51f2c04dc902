"""VictoriaLogs: log lines as LogsQL rows."""

from __future__ import annotations

from obs_mcp.clients.logsql import LogsQLClient


class LogsClient(LogsQLClient):
    pass
