"""VictoriaMetrics' Prometheus query API."""

from __future__ import annotations

from typing import Any

from obs_mcp.clients.base import StoreClient
from obs_mcp.errors import QueryRejected


class MetricsClient(StoreClient):
    def _offset(self) -> dict[str, str]:
        """After a flush every sample up to now is searchable: no need for VictoriaMetrics to
        hide the newest -search.latencyOffset (1 s on the stack; 1ms is its minimum)."""
        return {"latency_offset": "1ms"} if self.flusher and self.flusher.enabled else {}

    async def _api(self, path: str, params: dict[str, Any] | list[tuple[str, Any]]) -> Any:
        payload = await self.get_json(path, params)
        if payload.get("status") != "success":
            raise QueryRejected(
                self.name,
                self.url,
                f"rejected the query: {payload.get('error', payload)}",
                "Fix the PromQL/MetricsQL expression.",
            )
        return payload["data"]

    async def instant(self, query: str, at: float) -> dict[str, Any]:
        params = {"query": query, "time": f"{at:.3f}", "timeout": f"{int(self.timeout_s)}s"}
        await self.fresh(at)
        params |= self._offset()
        result: dict[str, Any] = await self._api("/api/v1/query", params)
        return result

    async def range(self, query: str, start: float, end: float, step: float) -> dict[str, Any]:
        params = {
            "query": query,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}s",
            "timeout": f"{int(self.timeout_s)}s",
        }
        await self.fresh(end)
        params |= self._offset()
        result: dict[str, Any] = await self._api("/api/v1/query_range", params)
        return result

    async def label_values(self, label: str, start: float, end: float) -> list[str]:
        params = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        await self.fresh(end)
        values: list[str] = await self._api(f"/api/v1/label/{label}/values", params)
        return values

    async def metric_names(self, matcher: str, start: float, end: float) -> list[str]:
        params = [("match[]", matcher), ("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        await self.fresh(end)
        values: list[str] = await self._api("/api/v1/label/__name__/values", params)
        return values
