"""The LogsQL HTTP API shared by VictoriaLogs and VictoriaTraces (spans are LogsQL rows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

import httpx2

from obs_mcp.clients.base import StoreClient
from obs_mcp.errors import OutOfRetention, StorageNodeDown
from obs_mcp.timeparse import Window, rfc3339

Row = dict[str, str]
Hits = list[tuple[str, int]]

# Set by tools whose answer is a list of examples (query_logs, search_traces, list_services):
# there a cluster's partial answer, said to be partial, beats none. VictoriaLogs' partial
# answers carry no marker (app/vlstorage/netselect getFirstError), so one is only taken
# after the full query failed naming the missing node: the note says which.
_PARTIAL_NOTES: ContextVar[list[str] | None] = ContextVar("partial_notes", default=None)


@contextmanager
def partial_allowed() -> Iterator[list[str]]:
    """Within: a storage node down gives a partial answer plus a note in the yielded list."""
    notes: list[str] = []
    token = _PARTIAL_NOTES.set(notes)
    try:
        yield notes
    finally:
        _PARTIAL_NOTES.reset(token)


def with_partial_note(hint: str, notes: list[str]) -> str:
    """An empty answer's hint, told when a storage node was missing: "none" may be "none here"."""
    if not notes:
        return hint
    return f"{hint} This answer is partial (see warnings): what the missing node holds is absent."


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

    async def get_text(self, path: str, params: dict[str, Any] | list[tuple[str, Any]]) -> str:
        try:
            return await super().get_text(path, params)
        except StorageNodeDown as exc:
            notes = _PARTIAL_NOTES.get()
            if notes is None or not isinstance(params, dict):
                raise
            text = await super().get_text(path, {**params, "allow_partial_response": "1"})
            note = (
                f"partial: {self.name} storage node {', '.join(exc.nodes)} is unavailable; "
                "what it stores is missing from this answer (counts are lower bounds)"
            )
            if note not in notes:
                notes.append(note)
            return text

    async def tenant_ids(self, window: Window) -> list[str] | None:
        """Tenants (`account:project`) with data in the window, from `/select/tenant_ids`,
        asked without tenant headers as the store requires; None when it refuses (a proxy
        such as vmauth may block it) or cannot answer."""
        params = {"start": rfc3339(window.start), "end": rfc3339(window.end)}
        request = self._http.build_request("GET", "/select/tenant_ids", params=params)
        for header in ("AccountID", "ProjectID"):
            request.headers.pop(header, None)
        try:
            response = await self._http.send(request)
            items = response.json() if response.status_code == 200 else None
        except (httpx2.HTTPError, ValueError):
            return None
        if not isinstance(items, list):
            return None
        return [
            f"{item.get('account_id', 0)}:{item.get('project_id', 0)}"
            for item in items
            if isinstance(item, dict)
        ]

    async def query(
        self,
        query: str,
        window: Window | None,
        limit: int | None = None,
        extra_filters: str | None = None,
    ) -> list[Row]:
        """Rows of `/select/logsql/query` (newest `limit` when a limit is given)."""
        params = self._params(query, window, limit=limit, extra_filters=extra_filters)
        await self.fresh(_end(window))
        try:
            text = await self.get_text("/select/logsql/query", params)
        except OutOfRetention:
            return []  # nothing is kept there: the same empty answer VictoriaLogs gives
        rows: list[Row] = []
        for line in text.splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise self._fail(f"answered with a non-JSON line: {line[:200]!r}") from None
        return rows

    async def field_names(self, query: str, window: Window) -> Hits:
        """`/select/logsql/field_names`: every field of the matching rows, with the number
        of rows that carry it (`{"values": [{"value": name, "hits": n}]}`)."""
        await self.fresh(_end(window))
        payload = await self.get_json("/select/logsql/field_names", self._params(query, window))
        values = payload.get("values") if isinstance(payload, dict) else None
        return self._hits(values, "value", "field_names")

    async def facets(
        self, query: str, window: Window, limit: int, max_values: int, max_value_len: int
    ) -> dict[str, Hits]:
        """`/select/logsql/facets`: the `limit` most frequent values of each field (exact
        hits), constant fields kept. The store leaves out a field with more than
        `max_values` distinct values or any value longer than `max_value_len` bytes."""
        params = self._params(
            query, window, limit=limit, max_values_per_field=max_values,
            max_value_len=max_value_len, keep_const_fields=1,
        )  # fmt: skip
        await self.fresh(_end(window))
        payload = await self.get_json("/select/logsql/facets", params)
        facets = payload.get("facets") if isinstance(payload, dict) else None
        if not isinstance(facets, list):
            raise self._fail(f"facets answered without a facets list: {str(payload)[:200]!r}")
        return {
            str(item.get("field_name")): self._hits(item.get("values"), "field_value", "facets")
            for item in facets
            if isinstance(item, dict)
        }

    def _hits(self, items: Any, key: str, endpoint: str) -> Hits:
        if not isinstance(items, list):
            raise self._fail(f"{endpoint} answered without a values list: {str(items)[:200]!r}")
        try:
            return [(str(item[key]), int(item["hits"])) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._fail(f"{endpoint} answered an unexpected item ({exc})") from None


def _end(window: Window | None) -> float | None:
    return None if window is None else window.end.timestamp()
