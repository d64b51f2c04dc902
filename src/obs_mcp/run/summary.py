"""The run's closing figures, read back from the stores through the query core.

Waits (wait_for_data, bounded) until the stores hold what the run sent: every line obs-mcp
shipped, and every request the instrumented Python processes counted themselves. Then the
same request_figures + side_stats as compare_runs over that run id, so the one line printed
at exit and a later compare_runs(baseline_run=...) agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from obs_mcp.config import Settings
from obs_mcp.core.backends import open_backends
from obs_mcp.core.compare import run_filter, side_stats
from obs_mcp.core.red import request_figures
from obs_mcp.core.wait import MAX_TIMEOUT_S, wait_for_data
from obs_mcp.models import SideStats, WaitResult
from obs_mcp.timeparse import resolve_window, rfc3339

EARLY = timedelta(seconds=2)  # the run's first data may be stamped a little before it


@dataclass
class RunFigures:
    stats: SideStats
    exact: bool
    waited: WaitResult


async def run_figures(
    settings: Settings,
    service: str,
    run_id: str,
    started: datetime,
    min_requests: int,
    min_logs: int,
) -> RunFigures:
    async with open_backends(settings) as backends:
        waited = await wait_for_data(
            backends,
            service=service,
            run_id=run_id,
            min_requests=min_requests,
            min_logs=min_logs,
            start=rfc3339(started - EARLY),
            timeout=MAX_TIMEOUT_S,
        )
        now = datetime.now(UTC)
        window = resolve_window(None, (started - EARLY).timestamp(), (now + EARLY).timestamp())
        figures = await request_figures(
            backends, service, window, extra=run_filter(run_id), by_operation=False
        )
    return RunFigures(side_stats(figures.overall, None), figures.exact, waited)


def figures_line(service: str, run: RunFigures, counted: int | None) -> str:
    s = run.stats
    p95 = "-" if s.p95_ms is None else f"{s.p95_ms:g} ms"
    text = (
        f"{service}: {s.requests} requests, {s.errors} errors ({s.error_rate * 100:.1f}%), "
        f"p95 {p95}"
    )
    text += "" if run.exact else " (p95 estimated)"
    if counted is not None:
        text += f"  [the app's own count: {counted} requests]"
    return text
