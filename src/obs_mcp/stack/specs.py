"""What to run for each component: its command line, ports, data dir and health check.

Flags are fitted to the binary at hand: one the binary does not know (an older release,
a user's own build) is dropped with a note of what that costs, unless the stack cannot
work without it, which stops `up` with a sentence instead of a "flag provided but not
defined" exit.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from obs_mcp.stack.binfacts import binary_facts
from obs_mcp.stack.components import (
    COLLECTOR,
    VICTORIALOGS,
    VICTORIAMETRICS,
    VICTORIATRACES,
    Component,
    resolve_binary,
)
from obs_mcp.stack.errors import StackError
from obs_mcp.stack.settings import StackSettings
from obs_mcp.stack.sources import COLLECTOR_CONFIG, SCRAPE_TARGETS
from obs_mcp.stack.versions import collector_config_path, scrape_config_path

WAVE_STORES, WAVE_ADAPTER, WAVE_COLLECTOR = 0, 1, 2
LATE_SPANS = "freshness: spans can show up to 30 s late"
LATE_TRACE_IDS = "freshness: a new trace can be missing from trace-id lookups for up to 20 s"
LATE_POINTS = "freshness: instant queries miss the newest 30 s of samples"
FLUSH = "crash safety: a SIGKILL can lose up to 5 s of acknowledged data instead of 1 s"
RETENTION = "data is kept for the binary's default retention"
NO_SCRAPE = "the stack-health dashboard has no history of the collector's and stores' own metrics"


LATE_TARGETS = "an edited scrape source applies after up to 1 min instead of 5 s"
NO_FLUSH_KEY = "freshness: the tools cannot flush it, so answers may miss the newest 1-2 s"


def flush_flag(settings: StackSettings) -> Flag:
    """The stack's secret (a file, never on the command line): tools flush before a query."""
    return Flag(f"-forceFlushAuthKey=file://{settings.flush_key_file}", NO_FLUSH_KEY)


@dataclass(frozen=True)
class Flag:
    arg: str  # "-search.latencyOffset=1s"
    lost: str | None = None  # what goes without it; None: the stack cannot run without it

    @property
    def name(self) -> str:
        return self.arg.lstrip("-").partition("=")[0]


@dataclass
class ProcessSpec:
    name: str
    title: str
    program: list[str]  # the binary, or `python -m module` for our own adapter
    flags: list[Flag]
    ports: tuple[int, ...]  # every port it binds; the first is the one shown
    health_url: str
    version: str
    wave: int  # started after every lower wave is healthy
    data_dir: Path | None = None
    locks_data_dir: bool = True  # the store flock()s data_dir: one process per dir
    ui_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    dropped: list[Flag] = field(default_factory=list)
    health_method: str = "GET"

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def argv(self) -> list[str]:
        return self.program + [flag.arg for flag in self.flags]

    @property
    def notes(self) -> list[str]:
        return [
            f"dropped {flag.arg} (this binary does not know it): {flag.lost}"
            for flag in self.dropped
        ]


def _binary(component: Component) -> Path:
    resolved = resolve_binary(component)
    if resolved is None:
        raise StackError("stack binaries missing: run `obs-mcp stack install`")
    return resolved.path


def _store(
    name: str,
    title: str,
    binary: Path,
    flags: list[Flag],
    port: int,
    base: str,
    data: Path,
    ui: str | None = "/select/vmui/",
) -> ProcessSpec:
    """A Victoria* store fitted to its binary: its own flags, version and data dir."""
    spec = ProcessSpec(
        name=name,
        title=title,
        program=[str(binary)],
        flags=[
            Flag(f"-httpListenAddr={base.removeprefix('http://')}"),
            Flag(f"-storageDataPath={data}"),
            *flags,
        ],
        ports=(port,),
        health_url=f"{base}/health",
        version="",
        wave=WAVE_STORES,
        data_dir=data,
        ui_url=f"{base}{ui}" if ui else None,
    )
    return fit_to_binary(spec, binary)


def fit_to_binary(spec: ProcessSpec, binary: Path) -> ProcessSpec:
    """Keep the flags the binary knows; fail on a missing required one; record the version."""
    facts = binary_facts(binary)
    missing = [flag.arg for flag in spec.flags if flag.lost is None and not facts.knows(flag.name)]
    if missing:
        raise StackError(
            f"{spec.title}: {binary} does not know {', '.join(missing)}, without which the "
            f"stack cannot run it (its version: {facts.version or 'unknown'}). Use the pinned "
            "build: unset its OBS_MCP_*_BIN variable or take it off PATH, then "
            "`obs-mcp stack install`."
        )
    spec.dropped = [flag for flag in spec.flags if not facts.knows(flag.name)]
    spec.flags = [flag for flag in spec.flags if facts.knows(flag.name)]
    spec.version = facts.version or f"unknown ({binary.name} --version says nothing)"
    return spec


def traces_mode() -> str:
    """ "victoriatraces" when a VictoriaTraces binary is at hand, else "vt-compat"."""
    return "victoriatraces" if resolve_binary(VICTORIATRACES) is not None else "vt-compat"


def stack_specs(settings: StackSettings) -> list[ProcessSpec]:
    s, p, data = settings, settings.ports, settings.data_dir
    vl = _binary(VICTORIALOGS)
    specs = [
        _store(
            "victoriametrics",
            "VictoriaMetrics",
            _binary(VICTORIAMETRICS),
            [
                Flag("-retentionPeriod=30d", RETENTION),
                Flag("-opentelemetry.usePrometheusNaming=true"),  # the names tools document
                Flag("-inmemoryDataFlushInterval=1s", FLUSH),
                Flag("-search.latencyOffset=1s", LATE_POINTS),
                # The stack's own health (collector counters, store ingestion) over time.
                Flag(f"-promscrape.config={scrape_config_path()}", NO_SCRAPE),
                # scrape sources (sources.toml) edited while running apply within 5 s
                Flag("-promscrape.fileSDCheckInterval=5s", LATE_TARGETS),
                flush_flag(s),
            ],
            p.victoriametrics,
            s.vm_url,
            data / "victoriametrics",
            ui="/vmui/",
        ),
        _store(
            "victorialogs",
            "VictoriaLogs",
            vl,
            [
                Flag("-retentionPeriod=7d", RETENTION),
                Flag("-inmemoryDataFlushInterval=1s", FLUSH),
                flush_flag(s),
            ],
            p.victorialogs,
            s.vl_url,
            data / "victorialogs",
        ),
    ]
    specs[0].env = {  # the targets collector/scrape.yaml names
        "OBS_SCRAPE_APPS": str(s.sources_dir / SCRAPE_TARGETS),
        "OBS_SCRAPE_COLLECTOR": f"{s.host}:{p.collector_metrics}",
        "OBS_SCRAPE_VICTORIAMETRICS": f"{s.host}:{p.victoriametrics}",
        "OBS_SCRAPE_VICTORIALOGS": f"{s.host}:{p.victorialogs}",
        "OBS_SCRAPE_VICTORIATRACES": f"{s.host}:{p.victoriatraces}",
    }
    specs += _traces_specs(settings, vl)
    collector = ProcessSpec(
        name="collector",
        title="OpenTelemetry Collector",
        program=[str(_binary(COLLECTOR))],
        flags=[Flag(f"--config={collector_config_path()}"), *_sources_config(s)],
        ports=(p.otlp_http, p.otlp_grpc, p.collector_metrics),
        health_url=s.collector_metrics_url,
        version="",
        wave=WAVE_COLLECTOR,
        ui_url=s.collector_metrics_url,
        env={
            "OTELCOL_GRPC_ENDPOINT": s.otlp_grpc_endpoint,
            "OTELCOL_HTTP_ENDPOINT": f"{s.host}:{p.otlp_http}",
            "OTELCOL_METRICS_HOST": s.host,
            "OTELCOL_METRICS_PORT": str(p.collector_metrics),
            "VM_OTLP_URL": s.vm_url,
            "VL_OTLP_URL": s.vl_url,
            "VT_OTLP_URL": s.vt_url,
        },
    )
    specs.append(fit_to_binary(collector, _binary(COLLECTOR)))
    return specs


def _sources_config(settings: StackSettings) -> list[Flag]:
    """The file sources' collector config, merged over the main one (when there are any)."""
    rendered = settings.sources_dir / COLLECTOR_CONFIG
    return [Flag(f"--config={rendered}")] if rendered.is_file() else []


def _traces_specs(settings: StackSettings, vl: Path) -> list[ProcessSpec]:
    """A real VictoriaTraces, or vt-compat: a span-store VictoriaLogs plus our OTLP adapter.

    The two keep their data in different dirs: a real VictoriaTraces never opens (or
    locks) the span store's dir, nor the other way round.
    """
    s, p, data = settings, settings.ports, settings.data_dir
    vt = resolve_binary(VICTORIATRACES)
    if vt is not None:
        return [
            _store(
                "victoriatraces",
                "VictoriaTraces",
                vt.path,
                [
                    Flag("-retentionPeriod=7d", RETENTION),
                    Flag("-search.latencyOffset=1s", LATE_SPANS),
                    Flag("-insert.indexFlushInterval=1s", LATE_TRACE_IDS),
                    Flag("-inmemoryDataFlushInterval=1s", FLUSH),
                    flush_flag(s),
                ],
                p.victoriatraces,
                s.vt_url,
                data / "victoriatraces",
            )
        ]
    spans = data / "vt-compat-spans"
    backend = _store(
        "vt-backend",
        "VictoriaLogs (span store for vt-compat)",
        vl,
        [
            Flag("-retentionPeriod=7d", RETENTION),
            Flag("-defaultMsgValue=-", "rows without _msg get VictoriaLogs' default message"),
            Flag("-inmemoryDataFlushInterval=1s", FLUSH),
            flush_flag(s),  # vt-compat passes /internal/force_flush through to it
        ],
        p.vt_backend,
        s.vt_backend_url,
        spans,
        ui=None,
    )
    adapter = ProcessSpec(
        name="victoriatraces",
        title="VictoriaTraces (vt-compat)",
        program=[sys.executable, "-m", "obs_mcp.stack.vtcompat"],
        flags=[
            Flag(f"--listen={s.host}:{p.victoriatraces}"),
            Flag(f"--backend={s.vt_backend_url}"),
        ],
        ports=(p.victoriatraces,),
        health_url=f"{s.vt_url}/health",
        version=f"vt-compat (VictoriaLogs {backend.version})",
        wave=WAVE_ADAPTER,
        data_dir=spans,
        locks_data_dir=False,
        ui_url=f"{s.vt_url}/select/vmui/",
    )
    return [backend, adapter]
