"""Why latency moved between two runs: which spans inside a request changed their number of
calls or their self time ("SELECT items: 2 -> 25 calls per request, +61 ms self time").

Read from a bounded sample of each side's newest requests (their whole subtrees, every
service below them), so the answer says how many requests it is based on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from obs_mcp.core.backends import Backends
from obs_mcp.core.correlate import SKELETON
from obs_mcp.core.requests import REQUEST_SLACK, entry_spans, store_window
from obs_mcp.core.trace_tree import Span, build, subtree
from obs_mcp.models import SpanChange
from obs_mcp.queries import logsql_field, logsql_in
from obs_mcp.timeparse import Window

SAMPLE_REQUESTS = 20
SPAN_CAP = 10_000
MAX_CHANGES = 5
MIN_SELF_MS = 1.0  # smaller self-time moves are noise at this sample size
SLACK = timedelta(minutes=5)


@dataclass
class Profile:
    """Per (service, span name): calls and self time summed over the sampled requests."""

    requests: int = 0
    calls: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    self_ns: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def per_request(self, key: tuple[str, str]) -> tuple[float, float]:
        if not self.requests:
            return 0.0, 0.0
        return self.calls[key] / self.requests, self.self_ns[key] / self.requests / 1e6


def _entries(spans: list[Span], service: str) -> list[Span]:
    return [
        s
        for s in spans
        if s.service == service
        and s.row.get("kind") in ("2", "5")
        and (s.parent is None or s.parent.service != service)
    ]


async def sample_profile(
    backends: Backends, service: str, window: Window, extra: str | None, operation: str | None
) -> Profile:
    selector = " ".join(filter(None, [entry_spans(service, window, operation), extra]))
    ids_q = (
        f"{selector} | stats by (trace_id) max(end_time_unix_nano) last "
        f"| sort by (last desc) | limit {SAMPLE_REQUESTS}"
    )
    found = await backends.traces.query(ids_q, store_window(window))
    ids = [r["trace_id"] for r in found if r.get("trace_id")]
    profile = Profile()
    if not ids:
        return profile
    fields = ", ".join(logsql_field(f) for f in ["trace_id", *SKELETON])
    rows = await backends.traces.query(
        f"{logsql_in('trace_id', ids)} | fields {fields}",
        Window(window.start - REQUEST_SLACK - SLACK, window.end + SLACK),
        limit=SPAN_CAP,
    )
    by_trace: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_trace[row.get("trace_id", "")].append(row)
    for trace_rows in by_trace.values():
        tree = build(trace_rows)
        for entry in _entries(tree.spans, service):
            if operation and entry.operation != operation:
                continue
            profile.requests += 1
            for span in subtree(entry):
                key = (span.service, span.operation)
                profile.calls[key] += 1
                profile.self_ns[key] += span.self_ns
    return profile


def span_changes(base: Profile, cur: Profile) -> list[SpanChange]:
    """The spans whose calls per request changed, or whose self time moved >= 1 ms, biggest
    self-time move first."""
    out: list[tuple[float, SpanChange]] = []
    for key in set(base.calls) | set(cur.calls):
        (b_calls, b_ms), (c_calls, c_ms) = base.per_request(key), cur.per_request(key)
        delta = c_ms - b_ms
        if round(b_calls, 2) == round(c_calls, 2) and abs(delta) < MIN_SELF_MS:
            continue
        service, name = key
        text = (
            f"{name}: {round(b_calls, 2):g} -> {round(c_calls, 2):g} calls per request, "
            f"{delta:+.1f} ms self time per request"
        )
        out.append(
            (
                abs(delta),
                SpanChange(
                    service=service,
                    operation=name,
                    calls_per_request=(round(b_calls, 2), round(c_calls, 2)),
                    self_ms_per_request=(round(b_ms, 3), round(c_ms, 3)),
                    summary=text,
                ),
            )
        )
    out.sort(key=lambda item: (-item[0], item[1].service, item[1].operation))
    return [change for _, change in out[:MAX_CHANGES]]
