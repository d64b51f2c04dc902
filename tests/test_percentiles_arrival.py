"""Exact percentiles while spans are still arriving: a changed count between the histogram
and the read-back starts the computation again; rows that keep arriving give the store's
estimate, flagged as such -- never an internal error (seen on CI with live demo traffic)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from obs_mcp.clients import TracesClient
from obs_mcp.clients.logsql import Row
from obs_mcp.config import StoreConfig
from obs_mcp.core.percentiles import ExactStats, exact_stats
from obs_mcp.core.red import ERRORS
from obs_mcp.core.requests import entry_spans, store_window
from obs_mcp.stack.runner import Stack
from obs_mcp.timeparse import Window
from tests.foreign_shapes import percentiles_ms
from tests.known_telemetry import wait_for_count
from tests.otlp_direct import SERVER, SpanSpec, new_id, send_spans

pytestmark = pytest.mark.stack
MS = 1_000_000
SVC = '"resource_attr:service.name"'


class ArrivingSpans(TracesClient):
    """The real store, with `arrivals` more requests landing just before each read-back."""

    def __init__(self, stack: Stack, service: str, arrivals: int) -> None:
        config = StoreConfig(name="VictoriaTraces", url=stack.settings.vt_url)
        super().__init__(config, 10.0, 50_000_000)
        self.stack, self.service, self.arrivals = stack, service, arrivals
        self.durations: list[int] = []

    def emit(self, durations: list[int]) -> None:
        now = datetime.now(UTC) - timedelta(seconds=30)
        end = int(now.timestamp()) * 1_000_000_000 + len(self.durations) * 1000
        specs = [SpanSpec(self.service, "GET /a", new_id(16), end - d, end, SERVER)
                 for d in durations]  # fmt: skip
        send_spans(self.stack.settings.otlp_http_url, specs)
        self.durations += [s.duration for s in specs]
        query = f'{SVC}:="{self.service}"'
        wait_for_count(self.stack.settings.vt_url, query, len(self.durations), timeout=60)

    async def query(
        self,
        query: str,
        window: Window | None,
        limit: int | None = None,
        extra_filters: str | None = None,
    ) -> list[Row]:
        if self.arrivals and "obs_bucket, duration | limit" in query:  # the read-back
            self.arrivals -= 1
            median = sorted(self.durations)[len(self.durations) // 2]
            self.emit([median] * 3)  # into the bucket being read: its count changes
        return await super().query(query, window, limit, extra_filters)


async def _stats(client: ArrivingSpans) -> ExactStats:
    now = datetime.now(UTC)
    window = Window(now - timedelta(minutes=5), now)
    selector = entry_spans(client.service, window)
    try:
        return await exact_stats(client, selector, store_window(window), count_if=ERRORS)
    finally:
        await client.aclose()


@pytest.mark.parametrize("arrivals", [1, 99])
async def test_arriving_spans_restart_or_flag_the_percentiles(
    native_stack: Stack, arrivals: int
) -> None:
    client = ArrivingSpans(native_stack, f"arrive-{uuid.uuid4().hex[:8]}", arrivals)
    client.emit([(7 + i * 13 % 500) * MS for i in range(200)])
    result = await _stats(client)
    if arrivals == 1:  # arrived once: computed again, exact over every request that is there
        assert result.exact and result.note is None
        assert result.overall.total == len(client.durations) == 203
        got = {k: (v or 0) / MS for k, v in result.overall.percentiles.items()}
        assert got == percentiles_ms(client.durations)
    else:  # kept arriving: the store's estimate, and the answer says so
        assert not result.exact
        assert result.note and "data kept arriving" in result.note
        assert result.overall.total == len(client.durations)
