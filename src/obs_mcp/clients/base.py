"""Shared HTTP plumbing: one pooled client per store, timeouts, byte caps, clear failures."""

from __future__ import annotations

import functools
import json
import logging
import re
import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from obs_mcp.clients.flush import Flusher
from obs_mcp.config import StoreConfig
from obs_mcp.errors import OutOfRetention, QueryRejected, StorageNodeDown, StoreError

# Request lines at INFO would flood an agent's stderr log; failures are reported as errors.
logging.getLogger("httpx2").setLevel(logging.WARNING)

OUT_OF_RETENTION = "request time out of retention"  # VictoriaTraces, for a window it dropped
START_HINTS = {
    "VictoriaLogs": "Is the stack running? `obs-mcp stack up` (or set VL_URL).",
    "VictoriaMetrics": "Is the stack running? `obs-mcp stack up` (or set VM_URL).",
    "VictoriaTraces": "Is the stack running? `obs-mcp stack up` (or set VT_URL).",
}


class StoreClient:
    """Async HTTP to one store. Every failure becomes a StoreError naming store and URL."""

    def __init__(
        self, config: StoreConfig, timeout_s: float, max_bytes: int, flush_key: str | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.url = display_url(config.url)  # shown in errors: never with user:password
        self._secrets = secret_values(config, flush_key)
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._http = httpx2.AsyncClient(
            base_url=config.url,
            headers=config.request_headers(),
            timeout=httpx2.Timeout(timeout_s, connect=min(3.0, timeout_s)),
            limits=httpx2.Limits(max_connections=32, max_keepalive_connections=8),
            verify=tls_context(config.url),
        )
        # flush_key is given only for a store of a stack this project runs (flush.flush_allowed)
        self.flusher = Flusher(self._http, flush_key, self.name) if flush_key else None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fresh(self, end: float | None) -> None:
        """Call before a query whose window ends at `end` (unix s; None: open-ended): on a
        local stack, rows still buffered in the store become searchable first."""
        if self.flusher is not None:
            await self.flusher.before_query(end)

    def _redact(self, text: str) -> str:
        """Store answers may echo request headers (auth proxies do): never pass secrets on."""
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def _fail(self, problem: str) -> StoreError:
        return StoreError(
            self.name, self.url, self._redact(problem), START_HINTS.get(self.name, "")
        )

    async def get_text(self, path: str, params: dict[str, Any] | list[tuple[str, Any]]) -> str:
        """GET (read-only by construction) and return the body, capped at max_bytes."""
        try:
            async with self._http.stream("GET", path, params=params) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise QueryRejected(
                            self.name,
                            self.url,
                            f"answer larger than {self.max_bytes // 1024} KiB",
                            "Narrow the query: a shorter window, a filter, or a lower limit.",
                        )
                    chunks.append(chunk)
                body = b"".join(chunks).decode(errors="replace")
        except httpx2.TimeoutException as exc:
            raise self._fail(
                f"no answer within {self.timeout_s:g}s ({type(exc).__name__}); the store is slow "
                "or stuck. Narrow the window, or raise OBS_MCP_TIMEOUT"
            ) from exc
        except httpx2.HTTPError as exc:
            raise self._fail(f"unreachable ({type(exc).__name__}: {exc})") from exc
        if response.status_code >= 400:
            detail = self._redact(clean_store_error(body))
            if response.status_code == 502 and (nodes := unavailable_nodes(body)):
                raise StorageNodeDown(self.name, self.url, nodes, "its select node answered 502")
            if OUT_OF_RETENTION in body:
                raise OutOfRetention(self.name, self.url, detail, "The store keeps nothing there.")
            if response.status_code in (400, 422):
                raise QueryRejected(
                    self.name, self.url, f"rejected the query: {detail}", "Fix the query syntax."
                )
            raise self._fail(f"HTTP {response.status_code}: {detail}")
        return body

    async def get_json(self, path: str, params: dict[str, Any] | list[tuple[str, Any]]) -> Any:
        text = await self.get_text(path, params)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self._fail(f"answered with invalid JSON: {text[:200]!r}") from exc

    async def healthy(self) -> bool:
        try:
            response = await self._http.get("/health", timeout=min(2.0, self.timeout_s))
        except httpx2.HTTPError:
            return False
        return response.status_code == 200


_URL_IN_ERROR = re.compile(r"https?://\S+")
# vlselect / vtselect (VictoriaLogs app/vlstorage/netselect): `cannot connect to storage
# node at "http://host:port/internal/select/query": ...`, answered with 502 Bad Gateway.
_NODE_DOWN = re.compile(r'cannot connect to storage node at \\?"https?://([^/"\\]+)')


def unavailable_nodes(body: str) -> list[str]:
    """host:port of every storage node a cluster select node says it could not reach."""
    return sorted(set(_NODE_DOWN.findall(body)))


def tls_context(url: str) -> ssl.SSLContext:
    """The CA bundle is loaded once, and only for an https store. A plain-http store gets an
    empty verifying context: it never does TLS, and if it were asked to, it would fail
    closed. (Loading the bundle per client cost ~1/3 of the server's start-up.)"""
    if url.lower().startswith("https://"):
        return _default_tls()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@functools.cache
def _default_tls() -> ssl.SSLContext:
    return httpx2.create_ssl_context()


def display_url(url: str) -> str:
    """The URL without credentials (`http://user:pass@host` -> `http://***@host`)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def secret_values(config: StoreConfig, *extra: str | None) -> list[str]:
    """Bearer token, header values, URL password (+ extra): longest first, none half-masked."""
    found = [value.get_secret_value() for value in config.headers.values()]
    found += [value for value in extra if value]
    if config.bearer_token is not None:
        found.append(config.bearer_token.get_secret_value())
    password = urlsplit(config.url).password
    if password:
        found.append(password)
    return sorted({value for value in found if len(value) >= 4}, key=len, reverse=True)


def clean_store_error(body: str) -> str:
    """The store's own error text, without JSON wrapping, URLs or runaway length."""
    text = body.strip()
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "error" in data:
            text = str(data["error"])
    except ValueError:
        pass
    text = _URL_IN_ERROR.sub("<docs>", text)
    text = text.replace("\n", " ")
    return text[:600] + ("…" if len(text) > 600 else "")
