"""Send a plan against the shop and summarise what the client saw.

The summary is the ground truth the observability tooling is checked against:
counts, status codes and latencies measured on the client, independent of any
telemetry pipeline. An error is a response with status >= 500 or a transport
failure (no response at all).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, Field
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from loadgen.plan import PlannedRequest, build_plan

RUN_ID_HEADER = "X-Run-Id"
RUN_ID_BAGGAGE_KEY = "run.id"
TRANSPORT_ERROR = "transport_error"


class LatencyStats(BaseModel):
    """Client-side latency in milliseconds (percentiles interpolate linearly)."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float


class EndpointSummary(BaseModel):
    """Ground truth for one endpoint (method + route template)."""

    requests: int
    errors: int
    error_rate: float
    status_counts: dict[str, int]
    latency: LatencyStats


class WorkloadSummary(BaseModel):
    """Ground truth for a whole run; `status_counts` keys are status codes as strings."""

    run_id: str
    url: str
    seed: int
    concurrency: int
    started_at: str
    finished_at: str
    duration_s: float
    total_requests: int
    status_counts: dict[str, int]
    errors: int
    error_rate: float
    transport_errors: int
    endpoints: dict[str, EndpointSummary]
    latency: LatencyStats
    cart_lines: dict[str, int] = Field(
        default_factory=dict, description="checkouts sent, by the number of lines in their cart"
    )


@dataclass(frozen=True)
class RequestResult:
    """What happened to one planned request; status None means no response."""

    request: PlannedRequest
    status: int | None
    latency_ms: float

    @property
    def is_error(self) -> bool:
        """Server-side failure as the user sees it: 5xx or no response."""
        return self.status is None or self.status >= 500


def new_run_id() -> str:
    """A short random id that tags every request (and thus every span) of a run."""
    return secrets.token_hex(4)


def rfc3339(moment: datetime) -> str:
    """UTC timestamp with millisecond precision and a Z suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of already sorted values."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def latency_stats(latencies: Iterable[float]) -> LatencyStats:
    """Summarise latencies (ms), rounded to 0.01 ms for readable JSON."""
    values = sorted(latencies)
    if not values:
        return LatencyStats(count=0, p50_ms=0, p95_ms=0, p99_ms=0, mean_ms=0, max_ms=0)
    return LatencyStats(
        count=len(values),
        p50_ms=round(percentile(values, 50), 2),
        p95_ms=round(percentile(values, 95), 2),
        p99_ms=round(percentile(values, 99), 2),
        mean_ms=round(sum(values) / len(values), 2),
        max_ms=round(values[-1], 2),
    )


def _status_key(status: int | None) -> str:
    return TRANSPORT_ERROR if status is None else str(status)


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items()))


def summarize(
    results: list[RequestResult],
    *,
    run_id: str,
    url: str,
    seed: int,
    concurrency: int,
    started: datetime,
    finished: datetime,
) -> WorkloadSummary:
    """Aggregate per-request results into the run's ground-truth summary."""
    by_endpoint: dict[str, list[RequestResult]] = defaultdict(list)
    for result in results:
        by_endpoint[result.request.endpoint].append(result)
    endpoints: dict[str, EndpointSummary] = {}
    for endpoint, items in sorted(by_endpoint.items()):
        errors = sum(r.is_error for r in items)
        endpoints[endpoint] = EndpointSummary(
            requests=len(items),
            errors=errors,
            error_rate=round(errors / len(items), 6),
            status_counts=_sorted_counts(Counter(_status_key(r.status) for r in items)),
            latency=latency_stats(r.latency_ms for r in items),
        )
    total = len(results)
    errors = sum(r.is_error for r in results)
    return WorkloadSummary(
        run_id=run_id,
        url=url,
        seed=seed,
        concurrency=concurrency,
        started_at=rfc3339(started),
        finished_at=rfc3339(finished),
        duration_s=round((finished - started).total_seconds(), 3),
        total_requests=total,
        status_counts=_sorted_counts(Counter(_status_key(r.status) for r in results)),
        errors=errors,
        error_rate=round(errors / total, 6) if total else 0.0,
        transport_errors=sum(r.status is None for r in results),
        endpoints=endpoints,
        latency=latency_stats(r.latency_ms for r in results),
        cart_lines={
            str(lines): n
            for lines, n in sorted(
                Counter(
                    len(r.request.body["items"])
                    for r in results
                    if r.request.body and isinstance(r.request.body.get("items"), list)
                ).items()
            )
        },
    )


async def _send(client: httpx.AsyncClient, request: PlannedRequest) -> RequestResult:
    start = time.perf_counter()
    status: int | None
    try:
        response = await client.request(request.method, request.path, json=request.body)
        status = response.status_code
    except httpx.HTTPError:
        status = None
    return RequestResult(request, status, (time.perf_counter() - start) * 1000)


async def run_plan(
    url: str,
    plan: list[PlannedRequest],
    concurrency: int,
    run_id: str,
    progress: Progress | None = None,
    request_timeout: float = 30.0,
) -> list[RequestResult]:
    """Send every planned request with `concurrency` workers; results keep plan order."""
    headers = {
        RUN_ID_HEADER: run_id,
        "baggage": f"{RUN_ID_BAGGAGE_KEY}={run_id}",
        "User-Agent": "obs-mcp-loadgen/0.1",
    }
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    results: list[RequestResult | None] = [None] * len(plan)
    task = progress.add_task("requests", total=len(plan)) if progress else None
    pending: Iterator[PlannedRequest] = iter(plan)
    errors = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for request in pending:  # shared iterator: each request is taken exactly once
            result = await _send(client, request)
            results[request.index] = result
            errors += result.is_error
            if progress is not None and task is not None:
                progress.update(task, advance=1, description=f"requests ({errors} errors)")

    async with (
        httpx.AsyncClient(
            base_url=url,
            headers=headers,
            timeout=request_timeout,
            limits=limits,
            follow_redirects=False,
        ) as client,
        asyncio.TaskGroup() as group,
    ):
        for _ in range(max(1, min(concurrency, len(plan)))):
            group.create_task(worker(client))
    return [r for r in results if r is not None]


async def run_workload(
    url: str,
    requests: int,
    concurrency: int,
    seed: int,
    run_id: str | None = None,
    progress: bool = False,
    *,
    request_timeout: float = 30.0,
) -> WorkloadSummary:
    """Build the seeded plan, send it, and return the client-side ground truth."""
    if requests < 0 or concurrency < 1:
        raise ValueError("requests must be >= 0 and concurrency >= 1")
    run_id = run_id or new_run_id()
    plan = build_plan(requests, seed)
    started = datetime.now(UTC)
    if progress:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        ) as bar:
            results = await run_plan(url, plan, concurrency, run_id, bar, request_timeout)
    else:
        results = await run_plan(url, plan, concurrency, run_id, None, request_timeout)
    finished = datetime.now(UTC)
    return summarize(
        results,
        run_id=run_id,
        url=url,
        seed=seed,
        concurrency=concurrency,
        started=started,
        finished=finished,
    )


def render_summary(summary: WorkloadSummary) -> Table:
    """A human-readable table of the ground truth (overall row last)."""
    table = Table(
        title=(
            f"run {summary.run_id}: {summary.total_requests} requests in "
            f"{summary.duration_s:.1f}s ({summary.started_at} .. {summary.finished_at})"
        )
    )
    for column in ("endpoint", "requests", "errors", "error rate", "statuses"):
        table.add_column(column, justify="left" if column in ("endpoint", "statuses") else "right")
    for column in ("p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right")

    def row(name: str, stats: EndpointSummary, style: str | None = None) -> None:
        statuses = " ".join(f"{k}:{v}" for k, v in stats.status_counts.items())
        table.add_row(
            name,
            str(stats.requests),
            str(stats.errors),
            f"{stats.error_rate:.2%}",
            statuses,
            f"{stats.latency.p50_ms:.1f}",
            f"{stats.latency.p95_ms:.1f}",
            f"{stats.latency.p99_ms:.1f}",
            style=style,
        )

    for endpoint, stats in summary.endpoints.items():
        row(endpoint, stats)
    overall = EndpointSummary(
        requests=summary.total_requests,
        errors=summary.errors,
        error_rate=summary.error_rate,
        status_counts=summary.status_counts,
        latency=summary.latency,
    )
    table.add_section()
    row("all", overall, style="bold")
    return table
