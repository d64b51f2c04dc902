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


@asynccontextmanager
async def open_backends(settings: Settings | None = None) -> AsyncIterator[Backends]:
    settings = settings or Settings.from_env()
    cap, timeout = settings.max_response_bytes, settings.timeout_s
    key = settings.force_flush_key.get_secret_value() if settings.force_flush_key else None

    def flush_key(store: StoreConfig) -> str | None:
        return key if flush_allowed(store, key, settings.force_flush_urls) else None

    backends = Backends(
        settings=settings,
        logs=LogsClient(settings.logs, timeout, cap, flush_key(settings.logs)),
        metrics=MetricsClient(settings.metrics, timeout, cap, flush_key(settings.metrics)),
        traces=TracesClient(settings.traces, timeout, cap, flush_key(settings.traces)),
    )
    try:
        yield backends
    finally:
        for client in (backends.logs, backends.metrics, backends.traces):
            await client.aclose()
