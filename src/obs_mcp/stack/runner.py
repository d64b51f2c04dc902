"""`obs-mcp stack up|down|status|logs`: run the stack as local processes bound to loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx2

from obs_mcp.stack import procs
from obs_mcp.stack.components import (
    COLLECTOR,
    VICTORIALOGS,
    VICTORIAMETRICS,
    VICTORIATRACES,
    resolve_binary,
)
from obs_mcp.stack.install import install_all
from obs_mcp.stack.versions import collector_config_path, pinned_versions, scrape_config_path

Reporter = Callable[[str], None]
HEALTH_TIMEOUT_S = 30.0


class StackError(RuntimeError):
    """The stack could not be brought to the asked state; the message says why and what to do."""


@dataclass
class StackPorts:
    """Every port the stack binds; all configurable so tests run isolated stacks side by side."""

    victoriametrics: int = 8428
    victorialogs: int = 9428
    victoriatraces: int = 10428
    otlp_grpc: int = 4317
    otlp_http: int = 4318
    collector_metrics: int = 8888
    vt_backend: int = 10429  # vt-compat only: the VictoriaLogs that holds spans

    @classmethod
    def from_env(cls) -> StackPorts:
        ports = cls()
        for name in asdict(ports):
            if value := os.environ.get(f"OBS_MCP_PORT_{name.upper()}"):
                setattr(ports, name, int(value))
        return ports

    @classmethod
    def free(cls, host: str = "127.0.0.1") -> StackPorts:
        return cls(**{name: procs.free_port(host) for name in asdict(cls())})


def default_state_dir() -> Path:
    if explicit := os.environ.get("OBS_MCP_STATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "obs-mcp"


@dataclass
class StackSettings:
    state_dir: Path = field(default_factory=default_state_dir)
    ports: StackPorts = field(default_factory=StackPorts.from_env)
    host: str = "127.0.0.1"
    # Throwaway stacks (tests, benchmarks) end with the process that started them, even
    # when it is killed; a user's stack (`obs-mcp stack up`) must outlive the CLI.
    die_with_parent: bool = False

    @property
    def vm_url(self) -> str:
        return f"http://{self.host}:{self.ports.victoriametrics}"

    @property
    def vl_url(self) -> str:
        return f"http://{self.host}:{self.ports.victorialogs}"

    @property
    def vt_url(self) -> str:
        return f"http://{self.host}:{self.ports.victoriatraces}"

    @property
    def otlp_http_url(self) -> str:
        return f"http://{self.host}:{self.ports.otlp_http}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"{self.host}:{self.ports.otlp_grpc}"

    @property
    def collector_metrics_url(self) -> str:
        return f"http://{self.host}:{self.ports.collector_metrics}/metrics"

    def store_env(self) -> dict[str, str]:
        """Env vars that point obs-mcp's MCP server and an OTel SDK at this stack."""
        return {
            "VM_URL": self.vm_url,
            "VL_URL": self.vl_url,
            "VT_URL": self.vt_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_http_url,
            "OBS_MCP_COLLECTOR_METRICS_URL": self.collector_metrics_url,
        }


@dataclass
class ProcessSpec:
    name: str
    title: str
    argv: list[str]
    port: int
    health_url: str
    version: str
    data_dir: Path | None
    ui_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    health_method: str = "GET"


@dataclass
class ComponentStatus:
    name: str
    title: str
    running: bool
    healthy: bool
    pid: int | None
    port: int
    version: str
    data_bytes: int | None
    ui_url: str | None
    log: str


class Stack:
    """One native stack rooted at a state dir; its pids and ports are kept in stack.json."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.state_dir = self.settings.state_dir
        self.logs_dir = self.state_dir / "logs"
        self.data_dir = self.state_dir / "data"
        self.state_file = self.state_dir / "stack.json"

    # ---- state -----------------------------------------------------------------------------
    def _load_state(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return dict(data.get("processes", {}))

    def _save_state(self, processes: dict[str, dict[str, object]]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        payload: dict[str, object] = {
            "ports": asdict(self.settings.ports),
            "host": self.settings.host,
        }
        payload["processes"] = processes
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(self.state_file)

    @classmethod
    def from_state_dir(cls, state_dir: Path) -> Stack:
        """Reattach to a stack started earlier (ports come from its stack.json)."""
        settings = StackSettings(state_dir=state_dir)
        try:
            saved = json.loads((state_dir / "stack.json").read_text())
            settings.ports = StackPorts(**saved["ports"])
            settings.host = saved.get("host", settings.host)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return cls(settings)

    # ---- what to run -----------------------------------------------------------------------
    def specs(self) -> list[ProcessSpec]:
        s, p, host = self.settings, self.settings.ports, self.settings.host
        versions = pinned_versions()

        def need(component_binary: object) -> str:
            assert component_binary is not None
            return str(component_binary)

        vm = resolve_binary(VICTORIAMETRICS)
        vl = resolve_binary(VICTORIALOGS)
        vt = resolve_binary(VICTORIATRACES)
        col = resolve_binary(COLLECTOR)
        if vm is None or vl is None or col is None:
            raise StackError("stack binaries missing: run `obs-mcp stack install`")
        specs = [
            ProcessSpec(
                name="victoriametrics",
                title="VictoriaMetrics",
                argv=[
                    need(vm.path),
                    f"-httpListenAddr={host}:{p.victoriametrics}",
                    f"-storageDataPath={self.data_dir / 'victoriametrics'}",
                    "-retentionPeriod=30d",
                    "-opentelemetry.usePrometheusNaming=true",
                    # Crash safety: a SIGKILL loses at most 1s of acknowledged data (default 5s).
                    "-inmemoryDataFlushInterval=1s",
                    # Freshness: the 30s default hides the newest samples from instant queries.
                    "-search.latencyOffset=1s",
                    # The stack's own health (collector counters, store ingestion) over time.
                    f"-promscrape.config={scrape_config_path()}",
                ],
                env={
                    "OBS_SCRAPE_COLLECTOR": f"{host}:{p.collector_metrics}",
                    "OBS_SCRAPE_VICTORIAMETRICS": f"{host}:{p.victoriametrics}",
                    "OBS_SCRAPE_VICTORIALOGS": f"{host}:{p.victorialogs}",
                    "OBS_SCRAPE_VICTORIATRACES": f"{host}:{p.victoriatraces}",
                },
                port=p.victoriametrics,
                health_url=f"{s.vm_url}/health",
                version=versions["VICTORIAMETRICS_VERSION"],
                data_dir=self.data_dir / "victoriametrics",
                ui_url=f"{s.vm_url}/vmui/",
            ),
            ProcessSpec(
                name="victorialogs",
                title="VictoriaLogs",
                argv=[
                    need(vl.path),
                    f"-httpListenAddr={host}:{p.victorialogs}",
                    f"-storageDataPath={self.data_dir / 'victorialogs'}",
                    "-retentionPeriod=7d",
                    "-inmemoryDataFlushInterval=1s",
                ],
                port=p.victorialogs,
                health_url=f"{s.vl_url}/health",
                version=versions["VICTORIALOGS_VERSION"],
                data_dir=self.data_dir / "victorialogs",
                ui_url=f"{s.vl_url}/select/vmui/",
            ),
        ]
        traces_dir = self.data_dir / "victoriatraces"
        if vt is not None:
            specs.append(
                ProcessSpec(
                    name="victoriatraces",
                    title="VictoriaTraces",
                    argv=[
                        str(vt.path),
                        f"-httpListenAddr={host}:{p.victoriatraces}",
                        f"-storageDataPath={traces_dir}",
                        "-retentionPeriod=7d",
                        "-search.latencyOffset=1s",
                        "-insert.indexFlushInterval=1s",
                        "-inmemoryDataFlushInterval=1s",
                    ],
                    port=p.victoriatraces,
                    health_url=f"{s.vt_url}/health",
                    version=versions["VICTORIATRACES_GO_VERSION"],
                    data_dir=traces_dir,
                    ui_url=f"{s.vt_url}/select/vmui/",
                )
            )
        else:
            backend = f"http://{host}:{p.vt_backend}"
            specs += [
                ProcessSpec(
                    name="vt-backend",
                    title="VictoriaLogs (span store for vt-compat)",
                    argv=[
                        need(vl.path),
                        f"-httpListenAddr={host}:{p.vt_backend}",
                        f"-storageDataPath={traces_dir}",
                        "-retentionPeriod=7d",
                        "-defaultMsgValue=-",
                        "-inmemoryDataFlushInterval=1s",
                    ],
                    port=p.vt_backend,
                    health_url=f"{backend}/health",
                    version=versions["VICTORIALOGS_VERSION"],
                    data_dir=traces_dir,
                ),
                ProcessSpec(
                    name="victoriatraces",
                    title="VictoriaTraces (vt-compat)",
                    argv=[
                        sys.executable,
                        "-m",
                        "obs_mcp.stack.vtcompat",
                        f"--listen={host}:{p.victoriatraces}",
                        f"--backend={backend}",
                    ],
                    port=p.victoriatraces,
                    health_url=f"{s.vt_url}/health",
                    version=f"vt-compat (VictoriaLogs {versions['VICTORIALOGS_VERSION']})",
                    data_dir=traces_dir,
                    ui_url=f"{s.vt_url}/select/vmui/",
                ),
            ]
        specs.append(
            ProcessSpec(
                name="collector",
                title="OpenTelemetry Collector",
                argv=[str(col.path), f"--config={collector_config_path()}"],
                port=p.otlp_http,
                health_url=s.collector_metrics_url,
                version=versions["OTELCOL_VERSION"],
                data_dir=None,
                ui_url=s.collector_metrics_url,
                env={
                    "OTELCOL_GRPC_ENDPOINT": s.otlp_grpc_endpoint,
                    "OTELCOL_HTTP_ENDPOINT": f"{host}:{p.otlp_http}",
                    "OTELCOL_METRICS_HOST": host,
                    "OTELCOL_METRICS_PORT": str(p.collector_metrics),
                    "VM_OTLP_URL": s.vm_url,
                    "VL_OTLP_URL": s.vl_url,
                    "VT_OTLP_URL": s.vt_url,
                },
            )
        )
        return specs

    # ---- lifecycle -------------------------------------------------------------------------
    def _ports_of(self, spec: ProcessSpec) -> list[int]:
        if spec.name == "collector":
            p = self.settings.ports
            return [p.otlp_grpc, p.otlp_http, p.collector_metrics]
        return [spec.port]

    def _is_running(self, name: str, entry: dict[str, object] | None) -> bool:
        if not entry:
            return False
        return procs.pid_alive(int(str(entry["pid"])), str(entry["argv0"]))

    def _start(self, spec: ProcessSpec) -> dict[str, object]:
        for port in self._ports_of(spec):
            if not procs.port_is_free(self.settings.host, port):
                holder = procs.port_holder(port) or "unknown process"
                raise StackError(
                    f"{spec.title}: port {self.settings.host}:{port} is already in use by "
                    f"{holder}. Stop it, or choose other ports (OBS_MCP_PORT_* env vars)."
                )
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        if spec.data_dir is not None:
            spec.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"{spec.name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                spec.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=os.environ | spec.env,
                start_new_session=True,  # Ctrl-C on the CLI must not take the stack down
                preexec_fn=procs.die_with_parent if self.settings.die_with_parent else None,
                close_fds=True,
            )
        return {
            "pid": proc.pid,
            "argv0": spec.argv[0] if spec.argv[1] != "-m" else spec.argv[2],
            "port": spec.port,
            "started_at": time.time(),
            "log": str(log_path),
        }

    def _health(self, spec: ProcessSpec, timeout: float = 2.0) -> bool:
        try:
            response = httpx2.request(spec.health_method, spec.health_url, timeout=timeout)
        except httpx2.HTTPError:
            return False
        return response.status_code == 200

    def _wait_healthy(self, spec: ProcessSpec, entry: dict[str, object]) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._health(spec, timeout=1.0):
                return
            if not self._is_running(spec.name, entry):
                break
            time.sleep(0.05)
        log = Path(str(entry["log"]))
        state = "exited" if not self._is_running(spec.name, entry) else "did not become healthy"
        raise StackError(
            f"{spec.title} {state} (health check {spec.health_url}).\n"
            f"Last lines of {log}:\n{procs.tail(log, 20)}"
        )

    def up(self, report: Reporter | None = None, install: bool = True) -> list[ComponentStatus]:
        """Start what is not running, wait for health; stores first, then the collector."""
        say = report or (lambda _line: None)
        if install and any(
            resolve_binary(c) is None for c in (VICTORIAMETRICS, VICTORIALOGS, COLLECTOR)
        ):
            install_all(say)
        state = self._load_state()
        specs = self.specs()
        stores = [sp for sp in specs if sp.name != "collector"]
        collector = [sp for sp in specs if sp.name == "collector"]
        # vt-compat's adapter needs its backend: start in dependency waves.
        waves = [
            [sp for sp in stores if sp.name != "victoriatraces" or sp.argv[1] != "-m"],
            [sp for sp in stores if sp.name == "victoriatraces" and sp.argv[1] == "-m"],
            collector,
        ]
        started = time.monotonic()
        for wave in waves:
            to_wait: list[tuple[ProcessSpec, dict[str, object]]] = []
            for spec in wave:
                entry = state.get(spec.name)
                if self._is_running(spec.name, entry) and entry is not None:
                    to_wait.append((spec, entry))
                    continue
                entry = self._start(spec)
                state[spec.name] = entry
                self._save_state(state)
                say(f"started {spec.title} (pid {entry['pid']}, port {spec.port})")
                to_wait.append((spec, entry))
            with ThreadPoolExecutor(max_workers=max(1, len(to_wait))) as pool:
                list(pool.map(lambda pair: self._wait_healthy(*pair), to_wait))
        say(f"stack healthy in {time.monotonic() - started:.1f}s")
        return self.status()

    def down(self, wipe: bool = False, grace_seconds: float = 10.0) -> list[str]:
        """Stop the collector first (so its queue drains into the stores), then the stores."""
        state = self._load_state()
        order = ["collector", "victoriatraces", "vt-backend", "victorialogs", "victoriametrics"]
        messages: list[str] = []
        names = sorted(state, key=lambda n: order.index(n) if n in order else len(order))
        for name in names:
            entry = state[name]
            outcome = procs.terminate(int(str(entry["pid"])), str(entry["argv0"]), grace_seconds)
            messages.append(f"{name}: {outcome}")
        self._save_state({})
        if wipe and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
            messages.append(f"wiped {self.data_dir}")
        return messages

    def status(self) -> list[ComponentStatus]:
        state = self._load_state()
        try:
            specs = self.specs()
        except StackError:
            specs = []
        result: list[ComponentStatus] = []
        for spec in specs:
            entry = state.get(spec.name)
            running = self._is_running(spec.name, entry)
            result.append(
                ComponentStatus(
                    name=spec.name,
                    title=spec.title,
                    running=running,
                    healthy=running and self._health(spec),
                    pid=int(str(entry["pid"])) if entry and running else None,
                    port=spec.port,
                    version=spec.version,
                    data_bytes=procs.dir_size(spec.data_dir) if spec.data_dir else None,
                    ui_url=spec.ui_url,
                    log=str(self.logs_dir / f"{spec.name}.log"),
                )
            )
        return result

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"
