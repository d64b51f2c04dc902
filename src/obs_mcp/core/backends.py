"""The three store clients, opened together and shared for the life of a server or command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from obs_mcp.clients import LogsClient, MetricsClient, TracesClient
from obs_mcp.clients.flush import flush_allowed
from obs_mcp.config import Settings, StoreConfig


@dataclass
class Backends:
    settings: Settings
    logs: LogsClient
    metrics: MetricsClient
    traces: TracesClient

    @classmethod
    def create(cls, settings: Settings) -> Backends:
        cap, timeout = settings.max_response_bytes, settings.timeout_s
        key = settings.force_flush_key.get_secret_value() if settings.force_flush_key else None

        def flush_key(store: StoreConfig) -> str | None:
            return key if flush_allowed(store, key, settings.force_flush_urls) else None

        return cls(
            settings=settings,
            logs=LogsClient(settings.logs, timeout, cap, flush_key(settings.logs)),
            metrics=MetricsClient(settings.metrics, timeout, cap, flush_key(settings.metrics)),
            traces=TracesClient(settings.traces, timeout, cap, flush_key(settings.traces)),
        )

    async def aclose(self) -> None:
        for client in (self.logs, self.metrics, self.traces):
            await client.aclose()


@asynccontextmanager
async def open_backends(settings: Settings | None = None) -> AsyncIterator[Backends]:
    backends = Backends.create(settings or Settings.from_env())
    try:
        yield backends
    finally:
        await backends.aclose()


class LazyBackends:
    """The server's clients, made on the first tool call: the HTTP stack's import and the
    pools stay off the path from spawn to the first tools/list answer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._backends: Backends | None = None

    def get(self) -> Backends:
        if self._backends is None:
            self._backends = Backends.create(self.settings)
        return self._backends

    async def aclose(self) -> None:
        if self._backends is not None:
            await self._backends.aclose()
