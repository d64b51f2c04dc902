"""stack_health: "why is there no data?" across the pipeline, with the concrete fix.

App -> collector (receiver accepted/refused) -> exporters (sent/failed, queue) -> stores
(/health, newest item per signal) -> the service's own newest span/log/metric.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx2

from obs_mcp.core.backends import Backends
from obs_mcp.core.fanout import gather
from obs_mcp.core.fields import LOG_SERVICE, SERVICE
from obs_mcp.core.names import closest
from obs_mcp.errors import StoreError
from obs_mcp.models import CollectorHealth, StackHealth, StoreHealth
from obs_mcp.pipeline import APP_EXPORT_ENV
from obs_mcp.queries import check_name, logsql_exact, logsql_field, promql_matcher
from obs_mcp.timeparse import Window, parse_store_time, rfc3339

LOOKBACK = timedelta(hours=24)
SIGNALS = {"spans": "traces", "metric_points": "metrics", "log_records": "logs"}
_LINE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)")
_COUNTERS = {
    "otelcol_receiver_accepted_": "accepted",
    "otelcol_receiver_refused_": "refused",
    "otelcol_exporter_sent_": "sent",
    "otelcol_exporter_send_failed_": "send_failed",
}
MISSING_HINTS = {
    "traces": "no spans: export traces with OTEL_TRACES_EXPORTER=otlp and "
    "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (opentelemetry-instrument for Python)",
    "metrics": "no metrics: set OTEL_METRICS_EXPORTER=otlp, and "
    f"OTEL_METRIC_EXPORT_INTERVAL={APP_EXPORT_ENV['OTEL_METRIC_EXPORT_INTERVAL']} "
    "(ms; the default 60000 delays the first point by a minute)",
    "logs": "no logs: set OTEL_LOGS_EXPORTER=otlp and turn on logging instrumentation "
    "(Python: OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true)",
}


def parse_collector_metrics(text: str, url: str) -> CollectorHealth:
    """Sum the collector's own Prometheus counters per signal (with or without _total)."""
    health = CollectorHealth(url=url, up=True, accepted={}, refused={}, sent={}, send_failed={})
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match or line.startswith("#"):
            continue
        name, value = match.group(1).removesuffix("_total"), float(match.group(3))
        if name == "otelcol_exporter_queue_size":
            health.queue_size = (health.queue_size or 0) + int(value)
            continue
        for prefix, attr in _COUNTERS.items():
            signal = SIGNALS.get(name.removeprefix(prefix)) if name.startswith(prefix) else None
            if signal:
                counts: dict[str, int] = getattr(health, attr)
                counts[signal] = counts.get(signal, 0) + int(value)
    return health


async def collector_health(url: str, timeout_s: float = 3.0) -> CollectorHealth:
    try:
        async with httpx2.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url)
        if response.status_code == 200:
            return parse_collector_metrics(response.text, url)
    except httpx2.HTTPError:
        pass
    return CollectorHealth(url=url, up=False, accepted={}, refused={}, sent={}, send_failed={})


def _newest_logsql(rows: list[dict[str, str]]) -> str | None:
    raw = rows[0].get("newest") if rows else None
    return rfc3339(parse_store_time(raw)) if raw else None


async def _newest(
    backends: Backends, signal: str, window: Window, service: str | None
) -> str | None:
    if signal == "metrics":
        matcher = promql_matcher("service_name", service) if service else 'service_name!=""'
        seconds = int(window.seconds)
        data = await backends.metrics.instant(
            f"max(tlast_over_time({{{matcher}}}[{seconds}s]))", window.end.timestamp()
        )
        result = data.get("result", [])
        return (
            rfc3339(datetime.fromtimestamp(float(result[0]["value"][1]), UTC)) if result else None
        )
    client = backends.traces if signal == "traces" else backends.logs
    field = SERVICE if signal == "traces" else LOG_SERVICE
    where = logsql_exact(field, service) if service else "*"
    return _newest_logsql(await client.query(f"{where} | stats max(_time) newest", window))


async def _all_names(backends: Backends, window: Window) -> list[str]:
    def per_service(field: str) -> str:
        return f"* | stats by ({logsql_field(field)}) count() n | sort by (n desc) | limit 500"

    spans, logs, metrics = await gather(
        lambda: backends.traces.query(per_service(SERVICE), window),
        lambda: backends.logs.query(per_service(LOG_SERVICE), window),
        lambda: backends.metrics.label_values(
            "service_name", window.start.timestamp(), window.end.timestamp()
        ),
    )
    names: set[str] = set()
    for rows, field in ((spans, SERVICE), (logs, LOG_SERVICE)):
        if isinstance(rows, list):
            names |= {r[field] for r in rows if r.get(field)}
    if isinstance(metrics, list):
        names |= set(metrics)
    return sorted(names)


SINCE_START = "since it started (the counts only grow: a second call tells whether it still does)"


def refused_hint(counts: dict[str, int], when: str) -> str:
    return (
        f"the collector refused data {counts} {when}: check protocol and port: 4318 is "
        "OTLP/HTTP (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf), 4317 is gRPC (grpc)"
    )


def send_failed_hint(counts: dict[str, int], when: str) -> str:
    return (
        f"the collector failed to deliver {counts} to the stores {when}: "
        "check that the stores are up and their logs (`obs-mcp stack status`)"
    )


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What a cumulative counter per signal added between two scrapes."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}


def _pipeline_hints(collector: CollectorHealth, stores: list[StoreHealth]) -> list[str]:
    hints: list[str] = []
    if not collector.up:
        hints.append(
            f"collector not answering at {collector.url}: start the stack (`obs-mcp stack up`) "
            "or set OBS_MCP_COLLECTOR_METRICS_URL"
        )
    hints += [
        f"{s.store} down at {s.url}: `obs-mcp stack up`, or fix its URL env var"
        for s in stores
        if not s.up
    ]
    if collector.up and not any(collector.accepted.values()):
        hints.append(
            "the collector has accepted nothing since it started: point apps at "
            "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (OTLP/HTTP)"
        )
    if any(collector.refused.values()):
        hints.append(refused_hint(collector.refused, SINCE_START))
    if any(collector.send_failed.values()):
        hints.append(send_failed_hint(collector.send_failed, SINCE_START))
    if collector.queue_size:
        hints.append(f"{collector.queue_size} batches wait in the collector's export queue")
    return hints


def _text(outcome: object) -> str | None:
    return outcome if isinstance(outcome, str) else None


async def stack_health(backends: Backends, service: str | None = None) -> StackHealth:
    if service is not None:
        check_name(service, "service")
    now = datetime.now(UTC)
    window = Window(now - LOOKBACK, now)
    clients = {"traces": backends.traces, "metrics": backends.metrics, "logs": backends.logs}
    signals = list(clients)
    outcomes = await gather(
        lambda: collector_health(backends.settings.collector_metrics_url),
        *[(lambda c=c: c.healthy()) for c in clients.values()],
        *[(lambda s=s: _newest(backends, s, window, None)) for s in signals],
        *[(lambda s=s: _newest(backends, s, window, service)) for s in signals if service],
    )  # fmt: skip
    collector = outcomes[0]
    assert isinstance(collector, CollectorHealth)
    up, newest, mine = outcomes[1:4], [_text(o) for o in outcomes[4:7]], outcomes[7:10]
    stores = [
        StoreHealth(
            store=clients[s].name,
            url=clients[s].url,
            up=bool(up[i]) and not isinstance(up[i], StoreError),
            newest=newest[i],
            newest_for_service=_text(mine[i]) if service else None,
        )
        for i, s in enumerate(signals)
    ]
    hints = _pipeline_hints(collector, stores)
    # /health of a cluster select node stays 200 with a storage node down: its queries say so
    failed = {
        signal: outcome
        for signal, store, outcome in zip(signals, stores, outcomes[4:7], strict=True)
        if store.up and isinstance(outcome, StoreError)
    }
    hints += [
        f"{error.store} is up but cannot answer queries: {error}" for error in failed.values()
    ]
    found = None
    if service:
        found = any(s.newest_for_service for s in stores)
        if not found:
            names = await _all_names(backends, window)
            close = closest(service, names, 5)
            hints.append(
                f"no spans, logs or metrics from service {service!r} in the last 24h; "
                + (
                    f"did you mean: {', '.join(close)}?"
                    if close
                    else f"known: {', '.join(names[:20]) or 'none'}"
                )
            )
    for i, signal in enumerate(signals):
        store = stores[i]
        if signal in failed:
            continue
        if store.up and not store.newest:
            hints.append(MISSING_HINTS[signal])
        elif store.up and found and not store.newest_for_service:
            hints.append(f"{service!r} sends {MISSING_HINTS[signal]}")
    failing = any(collector.refused.values()) or any(collector.send_failed.values())
    ok = (
        collector.up
        and all(s.up for s in stores)
        and found is not False
        and not failing
        and not failed
    )
    return StackHealth(
        ok=ok,
        collector=collector,
        stores=stores,
        service=service,
        service_found=found,
        hints=hints,
    )
