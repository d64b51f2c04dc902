"""wait_for_data: wait (bounded) until a re-run's telemetry is queryable, then say what came.

An agent that reads a window right after its workload ends may read it half-filled: spans
and logs become queryable about a second after export, and apps export on their own
schedule. This polls two cheap count queries every POLL_S (new requests as error_rate
counts them, new log lines) until the asked counts are there, reporting progress; on
timeout it says what it saw and lets stack_health say where the pipeline stops.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio

from obs_mcp.core import health
from obs_mcp.core.backends import Backends
from obs_mcp.core.compare import RUN_ID, run_filter
from obs_mcp.core.fanout import gather
from obs_mcp.core.fields import LOG_SERVICE, SERVICE
from obs_mcp.core.requests import entry_spans, server_kinds, store_window
from obs_mcp.errors import InvalidArgument, StoreError
from obs_mcp.models import CollectorHealth, StackHealth, WaitResult
from obs_mcp.queries import check_name, logsql_exact, logsql_field
from obs_mcp.timeparse import (
    Window,
    parse_duration,
    parse_instant,
    rfc3339,
    rfc3339_ns,
    store_time_ns,
)

MAX_TIMEOUT_S = 30.0
POLL_S = 0.25
PROGRESS_EVERY_S = 1.0
HEALTH_BUDGET_S = 5.0
AHEAD = timedelta(minutes=1)  # an emitting host's clock may run a little ahead
MAX_RUN_SERVICES = 20

Progress = Callable[[float, float, str], Awaitable[None]]


@dataclass
class _Ask:
    service: str | None
    run: str | None
    requests: int
    logs: int
    collector_before: CollectorHealth | None = None

    def describe(self) -> str:
        who = " ".join(
            filter(None, [self.service and repr(self.service), self.run and f"run.id={self.run}"])
        )
        wants = [f"{n} {what}" for n, what in ((self.requests, "requests"), (self.logs, "logs"))]
        return f"{' and '.join(w for w in wants if not w.startswith('0 '))} of {who}"


@dataclass
class _Seen:
    requests: int = 0
    newest_request: int = 0  # unix ns
    logs: int = 0
    newest_log: int = 0
    failures: tuple[StoreError, ...] = ()

    def enough(self, ask: _Ask) -> bool:
        return self.requests >= ask.requests and self.logs >= ask.logs

    def progress(self, ask: _Ask) -> str:
        return f"{self.requests}/{ask.requests} requests, {self.logs}/{ask.logs} log lines"


async def _count(client_query: Awaitable[list[dict[str, str]]]) -> tuple[int, int]:
    rows = await client_query
    row = rows[0] if rows else {}
    return int(row.get("n") or 0), store_time_ns(row.get("newest") or "")


async def _requests(backends: Backends, ask: _Ask, window: Window) -> tuple[int, int]:
    """New entry spans: of the service, or of every service that served the run."""
    run = [run_filter(ask.run)] if ask.run else []
    wide = store_window(window)  # entry_spans filters the exact end times
    if ask.service:
        services = [ask.service]
    else:
        by_service = f"{run[0]} {server_kinds()} | stats by ({logsql_field(SERVICE)}) count() n"
        rows = await backends.traces.query(f"{by_service} | limit {MAX_RUN_SERVICES}", wide)
        services = [r[SERVICE] for r in rows if r.get(SERVICE)]
        if not services:
            return 0, 0
    entries = " or ".join(f"({entry_spans(s, window)})" for s in services)
    selector = " ".join([f"({entries})", *run])
    stats = f"{selector} | stats count() n, max(end_time_unix_nano) newest"
    return await _count(backends.traces.query(stats, wide))


async def _logs(backends: Backends, ask: _Ask, window: Window) -> tuple[int, int]:
    parts = [logsql_exact(LOG_SERVICE, ask.service)] if ask.service else []
    parts += [logsql_exact(RUN_ID, ask.run)] if ask.run else []
    stats = f"{' '.join(parts)} | stats count() n, max(_time) newest"
    return await _count(backends.logs.query(stats, window))


async def _poll(backends: Backends, ask: _Ask, since: datetime) -> _Seen:
    window = Window(since, datetime.now(UTC) + AHEAD)
    spans, logs = await gather(
        lambda: _requests(backends, ask, window), lambda: _logs(backends, ask, window)
    )
    seen = _Seen(failures=tuple(o for o in (spans, logs) if isinstance(o, StoreError)))
    if isinstance(spans, tuple):
        seen.requests, seen.newest_request = spans
    if isinstance(logs, tuple):
        seen.logs, seen.newest_log = logs
    return seen


def _since(since: str | None, start: str | None, called: datetime) -> datetime:
    if start not in (None, ""):
        return parse_instant(str(start), "start")
    if since:
        return called - parse_duration(since, "since")
    return called


def _ask(
    service: str | None, run: str | None, min_requests: int, min_logs: int, timeout: float
) -> _Ask:
    if service is None and not run:
        raise InvalidArgument("give a service, a run_id, or both")
    if service is not None:
        check_name(service, "service")
    if run:
        check_name(run, "run_id")
    if min_requests < 0 or min_logs < 0 or not (min_requests or min_logs):
        raise InvalidArgument("min_requests and min_logs are >= 0 and one of them >= 1")
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise InvalidArgument(f"timeout={timeout:g}: choose 0 < timeout <= {MAX_TIMEOUT_S:g} s")
    return _Ask(service, run or None, min_requests, min_logs)


async def wait_for_data(
    backends: Backends,
    service: str | None = None,
    run_id: str | None = None,
    min_requests: int = 1,
    min_logs: int = 0,
    since: str | None = None,
    start: str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - the wait IS the call; a timeout answers
    progress: Progress | None = None,
) -> WaitResult:
    ask = _ask(service, run_id, min_requests, min_logs, timeout)
    called = datetime.now(UTC)
    since_at = _since(since, start, called)
    began = time.monotonic()
    collector_url = backends.settings.collector_metrics_url
    with anyio.move_on_after(1.0):  # a baseline: failures DURING the wait are the news
        ask.collector_before = await health.collector_health(collector_url, timeout_s=1.0)
    deadline = began + timeout
    seen, last_report, reported = _Seen(), -PROGRESS_EVERY_S, ""
    while True:
        with anyio.move_on_after(max(0.05, deadline - time.monotonic())):
            seen = await _poll(backends, ask, since_at)
        now = time.monotonic()
        if seen.enough(ask) or now >= deadline:
            break
        message = seen.progress(ask)
        if progress and (message != reported or now - last_report >= PROGRESS_EVERY_S):
            await progress(round(now - began, 3), timeout, message)
            last_report, reported = now, message
        await anyio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
    return await _answer(backends, ask, seen, since_at, time.monotonic() - began, timeout)


async def _answer(
    backends: Backends,
    ask: _Ask,
    seen: _Seen,
    since_at: datetime,
    waited: float,
    asked_s: float,
) -> WaitResult:
    arrived = seen.enough(ask)
    result = WaitResult(
        arrived=arrived,
        since=rfc3339(since_at),
        waited_s=round(waited, 3),
        requests=seen.requests,
        newest_request=rfc3339_ns(seen.newest_request) if seen.newest_request else None,
        logs=seen.logs,
        newest_log=rfc3339_ns(seen.newest_log) if seen.newest_log else None,
        warnings=[f"{f.store} unavailable: {f}" for f in seen.failures],
    )
    if arrived:
        return result
    result.hint = (
        # the timeout asked for: the last poll (a store flush + counts) may end a little later,
        # which waited_s tells exactly
        f"Timed out after {asked_s:g}s waiting for {ask.describe()} since {result.since}: "
        f"saw {seen.progress(ask)}. "
    )
    result.health, diagnosis = await _diagnosis(backends, ask)
    result.hint += diagnosis
    return result


async def _diagnosis(backends: Backends, ask: _Ask) -> tuple[StackHealth | None, str]:
    """Where the pipeline stops, from stack_health (bounded: a stuck store must not hang)."""
    found: StackHealth | None = None
    with anyio.move_on_after(HEALTH_BUDGET_S):
        found = await health.stack_health(backends, ask.service)
    if found is None:
        return None, f"stack_health gave no answer within {HEALTH_BUDGET_S:g}s."
    hints = _relevant(_during_wait(found, ask), ask)
    if hints:
        return found, "Pipeline: " + "; ".join(hints)
    newest = [
        f"{st.store} newest {st.newest_for_service or st.newest or 'none'}"
        for st in found.stores
        if st.store != backends.metrics.name
    ]
    return found, (
        f"The pipeline is up ({', '.join(newest)}): nothing new came. Is the workload "
        "running and exporting, and did it start after `since`/`start`?"
    )


def _during_wait(found: StackHealth, ask: _Ask) -> list[str]:
    """stack_health's hints with the collector's refusals and failed deliveries counted over
    the wait only: one poison batch an hour ago must not be the answer to "why no data now?"."""
    before, now = ask.collector_before, found.collector
    if before is None or not before.up or not now.up:
        return found.hints
    cumulative = {
        health.refused_hint(now.refused, health.SINCE_START),
        health.send_failed_hint(now.send_failed, health.SINCE_START),
    }
    hints = [h for h in found.hints if h not in cumulative]
    when = "while this call waited"
    if refused := health.grown(before.refused, now.refused):
        hints.append(health.refused_hint(refused, when))
    if failed := health.grown(before.send_failed, now.send_failed):
        hints.append(health.send_failed_hint(failed, when))
    return hints


def _relevant(hints: list[str], ask: _Ask) -> list[str]:
    """stack_health's hints without the missing signals nobody waits for (metrics, and
    logs or spans when not asked)."""
    unasked = {"metrics"} | ({"logs"} if not ask.logs else set())
    unasked |= {"traces"} if not ask.requests else set()
    skip = [health.MISSING_HINTS[signal] for signal in unasked]
    return [h for h in hints if not any(h.endswith(text) for text in skip)]
