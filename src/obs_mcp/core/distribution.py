"""Where the request durations lie: exact counts per duration bucket, and the slowest requests.

Both read the one request definition (entry_spans) and the percentile engine's log buckets
(~5% wide), so a distribution drawn from them agrees with every percentile the tools give.
"""

from __future__ import annotations

import math

from obs_mcp.core.backends import Backends
from obs_mcp.core.percentiles import BUCKET, BUCKETS_PER_E, MAX_GROUP_ROWS
from obs_mcp.core.requests import entry_spans, store_window
from obs_mcp.models import DurationBucket, SlowRequest
from obs_mcp.timeparse import Window, rfc3339_ns

MAX_SLOWEST = 20


def bucket_bounds_ms(index: int) -> tuple[float, float]:
    """[low, high) in ms of log bucket `index` (durations d with floor(ln(d+1)*20) == index)."""
    low = math.exp(index / BUCKETS_PER_E) - 1
    high = math.exp((index + 1) / BUCKETS_PER_E) - 1
    return round(low / 1e6, 6), round(high / 1e6, 6)


def _selector(service: str, window: Window, extra: str | None) -> str:
    return " ".join(filter(None, [entry_spans(service, window), extra]))


async def latency_histogram(
    backends: Backends, service: str, window: Window, extra: str | None = None
) -> list[DurationBucket]:
    """Every request counted into its duration bucket, in duration order (empty ones left out)."""
    query = (
        f"{_selector(service, window, extra)} | {BUCKET} | stats by (obs_bucket) count() n "
        f"| limit {MAX_GROUP_ROWS}"
    )
    buckets = []
    for row in await backends.traces.query(query, store_window(window)):
        try:
            index = int(float(row.get("obs_bucket", "")))
        except ValueError:
            continue  # requests without a duration
        low, high = bucket_bounds_ms(index)
        buckets.append(DurationBucket(index=index, low_ms=low, high_ms=high,
                                      count=int(row.get("n") or 0)))  # fmt: skip
    return sorted(buckets, key=lambda b: b.index)


async def slowest_requests(
    backends: Backends, service: str, window: Window, extra: str | None = None, limit: int = 1
) -> list[SlowRequest]:
    """The longest requests of the window, longest first."""
    query = (
        f"{_selector(service, window, extra)} | sort by (duration desc) "
        f"| limit {max(1, min(limit, MAX_SLOWEST))} | fields end_time_unix_nano, trace_id, name, duration"
    )
    return [
        SlowRequest(
            trace_id=row.get("trace_id", ""),
            operation=row.get("name", ""),
            duration_ms=round(int(float(row.get("duration") or 0)) / 1e6, 3),
            end_time=rfc3339_ns(int(row.get("end_time_unix_nano") or 0)),
        )
        for row in await backends.traces.query(query, store_window(window))
    ]
