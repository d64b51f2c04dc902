"""The LogsQL HTTP API shared by VictoriaLogs and VictoriaTraces (spans are LogsQL rows)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from obs_mcp.clients.base import StoreClient
from obs_mcp.errors import QueryRejected
from obs_mcp.timeparse import Window, rfc3339

Row = dict[str, str]
# VictoriaTraces refuses a window that lies wholly before its retention (VictoriaLogs answers
# no rows): nothing can be stored there, so that is an empty answer, not a broken query.
OUT_OF_RETENTION = "request time out of retention"


class LogsQLClient(StoreClient):
    extra_params: ClassVar[dict[str, str]] = {}

    def _params(self, query: str, window: Window | None, **more: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"query": query, **self.extra_params}
        if window is not None:
            params["start"] = rfc3339(window.start)
            params["end"] = rfc3339(window.end)
        params["timeout"] = f"{max(1, int(self.timeout_s))}s"
        params.update({k: v for k, v in more.items() if v is not None})
        return params

    async def query(
        self,
        query: str,
        window: Window | None,
        limit: int | None = None,
        extra_filters: str | None = None,
    ) -> list[Row]:
        """Rows of `/select/logsql/query` (newest `limit` when a limit is given)."""
        params = self._params(query, window, limit=limit, extra_filters=extra_filters)
        try:
            text = await self.get_text("/select/logsql/query", params)
        except QueryRejected as exc:
            if OUT_OF_RETENTION in exc.problem:
                return []
            raise
        rows: list[Row] = []
        for line in text.splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise self._fail(f"answered with a non-JSON line: {line[:200]!r}") from None
        return rows
