"""Force-flush: a local stack's store makes its buffered rows searchable before a fresh query.

VictoriaMetrics, VictoriaLogs and VictoriaTraces buffer new rows for up to ~1-2 s (VM: its
fixed 2 s pending-rows tick; a new series also waits for a 10 s index-cache reset) before a
query sees them. `/internal/force_flush` ends that wait. It is used only on a stack this
project runs: the stack's secret key must be configured (`OBS_MCP_FORCE_FLUSH_KEY`, or the
key file `obs-mcp stack env` names) and the store's URL must be one of that stack's loopback
URLs (`OBS_MCP_FORCE_FLUSH_URLS`). A user's own store, a remote or a cluster is never flushed.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from urllib.parse import urlsplit

import anyio
import httpx2

from obs_mcp.config import StoreConfig, normalize_url

log = logging.getLogger("obs_mcp.flush")

RECENT_S = 5.0  # a window ending less than this before now may miss buffered rows
MIN_INTERVAL_S = 0.25  # at most one flush per store per 250 ms: a burst of calls flushes once
FLUSH_TIMEOUT_S = 2.0  # a slow flush delays the answer by at most this; the query still runs
_REFUSED = {401, 403, 404, 405}  # wrong key, not a single-node store, no such endpoint


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def flush_allowed(config: StoreConfig, key: str | None, stack_urls: frozenset[str]) -> bool:
    """True only for a store of the stack that owns `key`: its exact loopback URL, plain
    http, no credentials and no tenant (a store with those is a user's own, or a cluster)."""
    parts = urlsplit(config.url)
    return bool(
        key
        and parts.scheme == "http"
        and parts.username is None
        and is_loopback(config.url)
        and normalize_url(config.url) in stack_urls
        and config.bearer_token is None
        and not config.headers
        and config.account_id is None
        and config.project_id is None
        and not config.tenant_headers
    )


class Flusher:
    """One store's flushes: at most one per MIN_INTERVAL_S, and callers that arrive while one
    is in flight wait for it instead of sending their own."""

    def __init__(self, http: httpx2.AsyncClient, key: str, store: str) -> None:
        self._http = http
        self._key = key
        self._store = store
        self._last = float("-inf")  # monotonic start of the newest finished flush
        self._inflight: anyio.Event | None = None
        self.enabled = True
        self.flushes = 0

    async def before_query(self, end: float | None) -> None:
        """Flush if the query's window ends within RECENT_S of now (None: open-ended)."""
        if not self.enabled or (end is not None and end < time.time() - RECENT_S):
            return
        if self._inflight is not None:
            await self._inflight.wait()
            return
        started = time.monotonic()
        if started - self._last < MIN_INTERVAL_S:
            return
        done = self._inflight = anyio.Event()
        try:
            await self._flush()
        finally:
            self._last, self._inflight = started, None
            done.set()

    async def _flush(self) -> None:
        try:
            answer = await self._http.post(
                "/internal/force_flush",
                data={"authKey": self._key},  # a form body: the key stays out of URLs and logs
                timeout=FLUSH_TIMEOUT_S,
            )
        except httpx2.HTTPError:
            return  # the query that follows reports an unreachable store
        self.flushes += 1
        if answer.status_code in _REFUSED:
            self.enabled = False
            log.warning(
                "%s refused /internal/force_flush (HTTP %d): answers may miss the newest "
                "second of data. Is OBS_MCP_FORCE_FLUSH_KEY this stack's key "
                "(`obs-mcp stack env`)?",
                self._store,
                answer.status_code,
            )
